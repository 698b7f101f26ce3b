"""The test run's settings: the service's own (`cjproject/settings.py`, DJANGO_DEBUG off as in
production), with what a plain-HTTP test run needs put in the environment first, so that the
worker processes some tests start inherit it too. A variable already set wins."""

import os
import runpy
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-secret-key-never-used-outside-the-test-suite-0123456789")
# The test client, the live server and the workers speak plain HTTP.
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("DJANGO_SECURE_COOKIES", "false")

# The settings file is run, not imported: importing `cjproject.settings` would first run the
# package's __init__, whose Celery app reads these very settings while they are being loaded.
_SERVICE_SETTINGS = runpy.run_path(str(Path(__file__).resolve().parents[1] / "cjproject" / "settings.py"))
globals().update({name: value for name, value in _SERVICE_SETTINGS.items() if name.isupper()})

if TYPE_CHECKING:  # the same names for mypy, which reads the settings' types from this module (django-stubs)
    from cjproject.settings import *  # noqa: F403
