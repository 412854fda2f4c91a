"""Static files: WhiteNoise serves what collectstatic put in STATIC_ROOT (in development, with
WHITENOISE_USE_FINDERS, the apps' own files)."""

from pathlib import Path

from django.conf import settings
from whitenoise.middleware import WhiteNoiseMiddleware


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    def __init__(self, get_response=None, settings=settings):
        # Empty until collectstatic fills it; WhiteNoise warns about a missing one.
        Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
        super().__init__(get_response, settings)
