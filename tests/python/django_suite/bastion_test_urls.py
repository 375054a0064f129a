"""URLs of the test project: bastion's token views, DRF views (throttled and not), plain Django
views (sync and async) and Django's login form."""

from __future__ import annotations

from typing import Any

from bastion.django.throttling import AnonRateThrottle, QuotaThrottle, ScopedRateThrottle, UserRateThrottle
from django.contrib.auth import authenticate
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView


class Me(APIView):
    permission_classes = (IsAuthenticated,)

    @property
    def authentication_classes(self) -> list[Any]:  # type: ignore[override]
        # Read per request (a restarted process reads the settings anew; the tests switch them live).
        return api_settings.DEFAULT_AUTHENTICATION_CLASSES  # type: ignore[no-any-return]

    def get(self, request: Request) -> Response:
        return Response({"username": request.user.get_username(), "claims": request.auth})

    def post(self, request: Request) -> Response:
        return Response({"ok": True})


class AnonThrottled(APIView):
    permission_classes = ()
    throttle_classes = (AnonRateThrottle,)

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class UserThrottled(APIView):
    permission_classes = ()
    throttle_classes = (UserRateThrottle,)

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class Scoped(APIView):
    permission_classes = ()
    throttle_classes = (ScopedRateThrottle,)
    throttle_scope = "burst"

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class Quota(APIView):
    permission_classes = ()
    throttle_classes = (QuotaThrottle,)
    throttle_scope = "identify"

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


def sync_view(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"ok": True, "view": "sync"})


def form_login(request: HttpRequest) -> HttpResponse:
    """A login form view that is not bastion's: the lockout middleware answers for it."""
    user = authenticate(request, username=request.POST.get("username"), password=request.POST.get("password"))
    return JsonResponse({"ok": user is not None}, status=200 if user is not None else 401)


async def async_view(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"ok": True, "view": "async"})


urlpatterns = [
    path("api/token/", include("bastion.django.urls")),
    path("api/me/", Me.as_view()),
    path("api/anon/", AnonThrottled.as_view()),
    path("api/user/", UserThrottled.as_view()),
    path("api/scoped/", Scoped.as_view()),
    path("api/quota/", Quota.as_view()),
    path("sync/", sync_view),
    path("async/", async_view),
    path("auth/sync/", sync_view),
    path("accounts/login/", form_login),
]
