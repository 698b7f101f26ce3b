from django.apps import AppConfig


class AssessmentsConfig(AppConfig):
    name = "assessments"
    verbose_name = "Comparative judgement"

    def ready(self) -> None:
        from assessments import metrics  # noqa: F401 - registers the CJ series and collectors
