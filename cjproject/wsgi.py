"""WSGI entry point (gunicorn cjproject.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cjproject.settings")
application = get_wsgi_application()
