"""The gateway app: validates the model manifest at start-up."""

from django.apps import AppConfig


class LlmgatewayConfig(AppConfig):
    name = "llmgateway"
    verbose_name = "LLM gateway"

    def ready(self) -> None:
        from llmgateway.manifest import manifest

        manifest()  # a broken manifest stops start-up with a message naming the problem
