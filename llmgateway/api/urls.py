"""Routes of the gateway's API, mounted under /api/v1/."""

from django.urls import path

from llmgateway.api import views

app_name = "llmgateway"

urlpatterns = [
    path("models", views.ModelsView.as_view(), name="models"),
    path("comparison", views.ComparisonCreateView.as_view(), name="comparison-create"),
    path("comparison/<int:request_id>", views.ComparisonDetailView.as_view(), name="comparison-detail"),
    path("usage", views.UsageView.as_view(), name="usage"),
]
