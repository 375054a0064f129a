from __future__ import annotations

from bastion.django.views import (
    LogoutEverywhereView,
    TokenBlacklistView,
    TokenObtainPairView,
    TokenRefreshView,
    TokenVerifyView,
)
from django.urls import path

from .views import IdentifyView, PasswordResetView, RegisterView, health

urlpatterns = [
    path("api/auth/login/", TokenObtainPairView.as_view()),
    path("api/auth/refresh/", TokenRefreshView.as_view()),
    path("api/auth/verify/", TokenVerifyView.as_view()),
    path("api/auth/logout/", TokenBlacklistView.as_view()),
    path("api/auth/logout-all/", LogoutEverywhereView.as_view()),
    path("api/auth/register/", RegisterView.as_view()),
    path("api/auth/password-reset/", PasswordResetView.as_view()),
    path("api/identify/", IdentifyView.as_view()),
    path("api/health/", health),
]
