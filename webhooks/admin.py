"""The webhooks in the admin: your signing secrets (the value shown once, when added; "Rotate" and
"Revoke" actions) and the delivery log of your notices, read-only. Everyone but a superuser sees
only their own rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from webhooks import selectors, services
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSecret


class _OwnRows:
    """Non-superusers see only the rows they own."""

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)  # type: ignore[misc]  # a mixin: the ModelAdmin supplies it
        return queryset if request.user.is_superuser else queryset.filter(owner=request.user)


class WebhookSecretForm(forms.ModelForm):
    overlap_hours = forms.IntegerField(
        min_value=0,
        max_value=int(services.ROTATION_OVERLAP_MAX.total_seconds() // 3600),
        initial=int(services.ROTATION_OVERLAP.total_seconds() // 3600),
        help_text="Hours your other secrets keep signing (0: they stop now).",
    )

    class Meta:
        model = WebhookSecret
        fields = ["owner"]


@admin.register(WebhookSecret)
class WebhookSecretAdmin(_OwnRows, admin.ModelAdmin):
    list_display = ("prefix_shown", "owner", "created_at", "expires_at", "signing")
    list_filter = ("expires_at",)
    search_fields = ("owner__username", "prefix")
    readonly_fields = ("prefix_shown", "owner", "created_at", "expires_at")
    actions = ["revoke"]

    @admin.display(description="secret starts with")
    def prefix_shown(self, secret: WebhookSecret) -> str:
        return f"{secret.prefix}…"

    @admin.display(boolean=True, description="signs now")
    def signing(self, secret: WebhookSecret) -> bool:
        return selectors.webhook_secrets_live(owner_id=secret.owner_id).filter(pk=secret.pk).exists()

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = WebhookSecretForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: WebhookSecret | None = None) -> tuple[str, ...]:
        if obj is not None:  # never the value: only what tells secrets apart
            return ("prefix_shown", "owner", "created_at", "expires_at")
        return ("owner", "overlap_hours") if request.user.is_superuser else ("overlap_hours",)

    def get_readonly_fields(self, request: HttpRequest, obj: WebhookSecret | None = None) -> tuple[str, ...]:
        return self.readonly_fields if obj is not None else ()

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False if obj is not None else super().has_change_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: WebhookSecret, form: Any, change: bool) -> None:
        owner = obj.owner if request.user.is_superuser and obj.owner_id else request.user
        overlap = timedelta(hours=form.cleaned_data["overlap_hours"])
        secret, value = services.webhook_secret_create(owner=owner, overlap=overlap)
        obj.pk, obj.owner, obj.prefix, obj.created_at = secret.pk, secret.owner, secret.prefix, secret.created_at
        messages.warning(
            request, f"The new webhook secret of {owner}, shown this once (store it with your receiver now): {value}"
        )

    @admin.action(description="Revoke the selected secrets now")
    def revoke(self, request: HttpRequest, queryset: QuerySet[WebhookSecret]) -> None:
        for secret in queryset:
            services.webhook_secret_revoke(secret=secret)
        messages.success(request, f"Revoked {queryset.count()} secret(s).")


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ("number", "at", "status_code", "error", "duration_ms", "delivered", "next_attempt_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(_OwnRows, admin.ModelAdmin):
    list_display = ("created_at", "event", "subject", "endpoint", "status", "attempts", "next_attempt_at", "last_result")
    list_filter = ("status", "event")
    search_fields = ("message_id", "event")
    fields = (
        "message_id",
        "event",
        "subject",
        "endpoint",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
        "finished_at",
        "owner",
    )
    readonly_fields = fields
    inlines = [WebhookAttemptInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("attempt_log")

    @admin.display(description="about")
    def subject(self, delivery: WebhookDelivery) -> str:
        return f"{delivery.subject_kind} {delivery.subject_id}"

    @admin.display(description="sent to")
    def endpoint(self, delivery: WebhookDelivery) -> str:
        return selectors.webhook_endpoint(delivery.url)

    @admin.display(description="last attempt")
    def last_result(self, delivery: WebhookDelivery) -> str:
        attempts = list(delivery.attempt_log.all())
        if not attempts:
            return "-"
        last = attempts[-1]
        return f"HTTP {last.status_code}" if last.status_code is not None else last.error

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
