"""URL routes: the admin, health checks, metrics, the apps' APIs and their OpenAPI documents.

Anything else under /api/ is a JSON 404 in the one error shape, in debug mode too.
"""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from cjproject.api import api_not_found
from cjproject.health import health
from llmgateway.api.views import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("metrics", metrics_view, name="metrics"),
    path("api/v1/", include("llmgateway.api.urls")),
    path("api/v1/", include("assessments.api.urls")),
    path("api/v1/", include("webhooks.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="openapi-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="openapi-schema"), name="openapi-docs"),
    re_path(r"^api/", api_not_found),
]

handler404 = "cjproject.api.handler404"
handler500 = "cjproject.api.handler500"
