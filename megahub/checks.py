"""`manage.py check --deploy`: refuse the development secrets in production."""

from django.conf import settings
from django.core import checks

DEV_SECRETS = {
    "SECRET_KEY": "dev-only-insecure-secret-key-change-me",
    "JWT_SIGNING_KEY": "dev-only-insecure-jwt-signing-key-change-me",
}


@checks.register(checks.Tags.security, deploy=True)
def development_secrets(app_configs, **kwargs):
    current = {"SECRET_KEY": settings.SECRET_KEY, "JWT_SIGNING_KEY": settings.SIMPLE_JWT["SIGNING_KEY"]}
    errors = [checks.Error(f"{name} is the development default.", hint=f"Set {name} in the environment.",
                           id=f"megahub.E00{i}")
              for i, (name, dev) in enumerate(DEV_SECRETS.items(), start=1) if current[name] == dev]
    if settings.SIMPLE_JWT["SIGNING_KEY"] == settings.SECRET_KEY:
        errors.append(checks.Error("JWT_SIGNING_KEY equals SECRET_KEY.", hint="Use two different secrets.",
                                   id="megahub.E003"))
    return errors
