from __future__ import annotations

from typing import Any

from bastion import BastionError, CircuitOpenError
from bastion.django.conf import get_store
from bastion.django.throttling import QuotaThrottle
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import identify
from .upstream import UpstreamError


def problem(status_code: int, title: str, detail: str, **headers: str) -> JsonResponse:
    response = JsonResponse(
        {"type": "about:blank", "title": title, "status": status_code, "detail": detail},
        status=status_code,
        content_type="application/problem+json",
    )
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


class Registration(serializers.Serializer):  # type: ignore[type-arg]
    username = serializers.CharField(max_length=150)
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True, trim_whitespace=False)


class RegisterView(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    def post(self, request: Request) -> Response:
        form = Registration(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        user_model = get_user_model()
        candidate = user_model(username=data["username"], email=data["email"])
        try:
            password_validation.validate_password(data["password"], candidate)
        except ValidationError as e:
            return Response({"password": list(e.messages)}, status=status.HTTP_400_BAD_REQUEST)
        if user_model._default_manager.filter(username=data["username"]).exists():
            return Response({"username": ["taken"]}, status=status.HTTP_400_BAD_REQUEST)
        candidate.set_password(data["password"])
        candidate.save()
        return Response({"username": candidate.username}, status=status.HTTP_201_CREATED)


class PasswordResetView(APIView):
    """Always 202, whether the address exists or not (no enumeration); the mail is sent elsewhere."""

    authentication_classes = ()
    permission_classes = (AllowAny,)

    def post(self, request: Request) -> Response:
        return Response({"detail": "If the address is registered, a reset link was sent."}, status=202)


class IdentifyView(APIView):
    permission_classes = (AllowAny,)
    throttle_classes = (QuotaThrottle,)
    throttle_scope = "identify"

    def post(self, request: Request) -> Any:
        image = request.data.get("image") if hasattr(request.data, "get") else None
        if not isinstance(image, str) or not image or len(image) > 1_000_000:
            return Response({"image": ["required"]}, status=status.HTTP_400_BAD_REQUEST)
        try:
            return Response(identify.identify(image))
        except CircuitOpenError as e:
            retry = str(max(1, int(e.retry_after or 1)))
            return problem(
                503, "Identification unavailable", "The identification service is failing.", Retry_After=retry
            )
        except (UpstreamError, BastionError):
            # BastionError: a concurrent identical request computed the answer and failed; the
            # callers that waited for it get this error (it names the failure's type, not its text).
            return problem(502, "Identification failed", "The identification service failed; try again.")


def health(request: Any) -> JsonResponse:
    """Liveness and readiness: the store answers; the breaker's state is shown."""
    try:
        get_store().ping()
        store_ok = True
    except Exception:
        store_ok = False
    body = {"store": "ok" if store_ok else "unavailable", "identify_breaker": identify.breaker().state}
    return JsonResponse(body, status=200 if store_ok else 503)
