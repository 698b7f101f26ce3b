"""Django project of the CJ service; importing it loads the Celery app so shared tasks bind to it."""

from cjproject.celery import app as celery_app

__all__ = ("celery_app",)
