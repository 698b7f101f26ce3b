"""The settings mypy loads (django-stubs imports Django's settings to type them), without the
environment of a deployment: the test run's (tests/environment.py: a test-only secret key, as
DJANGO_DEBUG is off), then the service's own settings."""

import runpy
from pathlib import Path
from typing import TYPE_CHECKING

import tests.environment  # noqa: F401 - sets the test run's environment first

# The settings file is run, not imported: importing `cjproject.settings` would first run the
# package's __init__, whose Celery app reads these very settings while they are being loaded.
_SERVICE_SETTINGS = runpy.run_path(str(Path(__file__).resolve().parents[1] / "cjproject" / "settings.py"))
globals().update({name: value for name, value in _SERVICE_SETTINGS.items() if name.isupper()})

if TYPE_CHECKING:  # the same names for mypy, which reads the settings' types from this module
    from cjproject.settings import *  # noqa: F403
