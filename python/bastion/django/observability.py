"""Prometheus metrics and a readiness check as Django views.

``path("", include("bastion.django.observability"))`` serves ``metrics`` (the Prometheus text,
``text/plain; version=0.0.4``) and ``health`` (JSON: 200 when every store answers, 503 otherwise,
with each store's ping and each breaker's state). Both answer GET only and are plain Django views
(no DRF). They reveal operational detail: route them where only the scraper and the orchestrator
reach them, or wrap them in your own access check.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.http import require_GET

from bastion.observability import CONTENT_TYPE, health, metrics

__all__ = ["health_view", "metrics_view", "urlpatterns"]


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Every bastion metric in the Prometheus text format."""
    return HttpResponse(metrics(), content_type=CONTENT_TYPE)


@require_GET
def health_view(request: HttpRequest) -> JsonResponse:
    """The health snapshot: 200 when every store answered its ping, 503 otherwise."""
    snapshot = health()
    return JsonResponse(snapshot, status=200 if snapshot["ok"] else 503)


urlpatterns = [
    path("metrics", metrics_view, name="bastion_metrics"),
    path("health", health_view, name="bastion_health"),
]
