import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "megahub.settings")
application = get_wsgi_application()

# Load every view module now, then leave what start-up built (~120,000 objects: Django, DRF, our modules)
# out of the cyclic garbage collector: a full collection over them took 70-90 ms, one request in about a
# hundred, both gunicorn workers near the same count (docs/architecture.md, "The fixed cost of a request").
get_resolver().url_patterns  # noqa: B018 - imports the URLconf and every view module it names
gc.freeze()
