"""The "before" project of the migration test: simplejwt's own views and authentication."""

from __future__ import annotations

from typing import Any

from django.urls import path
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenBlacklistView, TokenObtainPairView, TokenRefreshView


class Me(APIView):
    permission_classes = (IsAuthenticated,)

    @property
    def authentication_classes(self) -> list[Any]:  # type: ignore[override]
        # Read per request (a restarted process reads the settings anew; the tests switch them live).
        return api_settings.DEFAULT_AUTHENTICATION_CLASSES  # type: ignore[no-any-return]

    def get(self, request: Request) -> Response:
        return Response({"username": request.user.get_username()})


urlpatterns = [
    path("api/token/", TokenObtainPairView.as_view()),
    path("api/token/refresh/", TokenRefreshView.as_view()),
    path("api/token/blacklist/", TokenBlacklistView.as_view()),
    path("api/me/", Me.as_view()),
]
