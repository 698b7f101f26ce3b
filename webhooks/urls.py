"""Routes of the webhooks' API, mounted under /api/v1/."""

from django.urls import path

from webhooks import api

app_name = "webhooks"

urlpatterns = [
    path("webhook-secrets", api.WebhookSecretListCreateView.as_view(), name="secret-list"),
    path("webhook-secrets/<int:secret_id>", api.WebhookSecretDetailView.as_view(), name="secret-detail"),
    path("webhook-deliveries", api.WebhookDeliveryListView.as_view(), name="delivery-list"),
    path("webhook-deliveries/<int:delivery_id>", api.WebhookDeliveryDetailView.as_view(), name="delivery-detail"),
]
