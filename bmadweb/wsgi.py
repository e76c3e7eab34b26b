"""WSGI entry point (gunicorn bmadweb.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bmadweb.settings")
application = get_wsgi_application()
