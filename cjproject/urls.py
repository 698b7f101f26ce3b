"""URL routes: the admin, health checks, and the apps' APIs."""

from django.contrib import admin
from django.urls import path

from cjproject.health import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
]
