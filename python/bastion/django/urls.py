"""simplejwt's URLs on bastion's views: ``path("api/token/", include("bastion.django.urls"))``.

=====================  ==============================  ===========================
path                   view                            name
=====================  ==============================  ===========================
``""``                 :class:`TokenObtainPairView`    ``token_obtain_pair``
``refresh/``           :class:`TokenRefreshView`       ``token_refresh``
``verify/``            :class:`TokenVerifyView`        ``token_verify``
``blacklist/``         :class:`TokenBlacklistView`     ``token_blacklist``
``logout-all/``        :class:`LogoutEverywhereView`   ``token_logout_all``
=====================  ==============================  ===========================
"""

from __future__ import annotations

from django.urls import path

from .views import (
    LogoutEverywhereView,
    TokenBlacklistView,
    TokenObtainPairView,
    TokenRefreshView,
    TokenVerifyView,
)

urlpatterns = [
    path("", TokenObtainPairView.as_view(), name="token_obtain_pair"),
    path("refresh/", TokenRefreshView.as_view(), name="token_refresh"),
    path("verify/", TokenVerifyView.as_view(), name="token_verify"),
    path("blacklist/", TokenBlacklistView.as_view(), name="token_blacklist"),
    path("logout-all/", LogoutEverywhereView.as_view(), name="token_logout_all"),
]
