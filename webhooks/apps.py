"""The webhooks app (listed before `assessments` so that its permissions exist when the Graders
group is set up after `migrate`)."""

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"
