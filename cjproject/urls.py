"""URL routes: the admin, health checks, metrics, and the apps' APIs."""

from django.contrib import admin
from django.urls import include, path

from cjproject.health import health
from llmgateway.api.views import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("metrics", metrics_view, name="metrics"),
    path("api/v1/", include("llmgateway.api.urls")),
]
