from django.apps import AppConfig


class LlmgatewayConfig(AppConfig):
    name = "llmgateway"
    verbose_name = "LLM gateway"
