"""The CJ app: registers its metrics on start-up and keeps the Graders group after each migration."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AssessmentsConfig(AppConfig):
    name = "assessments"
    verbose_name = "Comparative judgement"

    def ready(self) -> None:
        from assessments import metrics  # noqa: F401 - registers the CJ series and collectors
        from assessments.graders import graders_group_after_migrate

        # After auth's own handler (registered first) has created this app's permissions.
        post_migrate.connect(graders_group_after_migrate, sender=self, dispatch_uid="assessments.graders_group")
