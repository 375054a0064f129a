"""simplejwt's views on bastion, same URLs, bodies and status codes, plus logout-everywhere.

- :class:`TokenObtainPairView`: ``{"username", "password"}`` to ``{"refresh", "access"}`` (401
  ``no_active_account`` otherwise; the lockout answer, 429 with ``Retry-After``, while locked).
- :class:`TokenRefreshView`: ``{"refresh"}`` to ``{"access"}`` (and a new ``"refresh"`` with
  ``ROTATE_REFRESH_TOKENS``: single-use, reuse revokes the family).
- :class:`TokenVerifyView`: ``{"token"}`` to ``{}``; :class:`TokenBlacklistView`: ``{"refresh"}``
  to ``{}`` (the token and its family revoked).
- :class:`LogoutEverywhereView`: an authenticated POST revokes every token of the user.

With ``BASTION["JWT_COOKIE"]`` the tokens travel in HttpOnly cookies (Secure outside DEBUG,
SameSite as set) instead of the body, the refresh and blacklist views read the refresh cookie when
the body has none, and a cookie is only accepted with Django's CSRF token on these POSTs.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import update_last_login
from django.middleware.csrf import get_token
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bastion import TokenPair
from bastion.exceptions import InvalidTokenError, PyJWTError, StoreUnavailableError

from . import tokens
from .authentication import JWTAuthentication, enforce_csrf, token_error
from .conf import bastion_setting
from .lockout import lockout_response, record_login_success

__all__ = [
    "LogoutEverywhereView",
    "TokenBlacklistView",
    "TokenObtainPairView",
    "TokenRefreshView",
    "TokenVerifyView",
]


class _Credentials(serializers.Serializer):  # type: ignore[type-arg]
    password = serializers.CharField(trim_whitespace=False, write_only=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields[get_user_model().USERNAME_FIELD] = serializers.CharField(write_only=True)


class _TokenView(APIView):
    authentication_classes = ()
    permission_classes = ()
    # Set per URL for DRF's ScopedRateThrottle: TokenObtainPairView.as_view(throttle_scope="login").
    throttle_scope: str | None = None
    www_authenticate_realm = "api"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        try:
            request.data  # noqa: B018 - parsed now, where a hostile body is answered 400
        except RecursionError:
            # DRF's JSON parser lets a deeply nested body escape as a server error.
            raise exceptions.ParseError(_("JSON parse error - the document is nested too deeply.")) from None

    def get_authenticate_header(self, request: Request) -> str:
        # As simplejwt: token errors answer 401 with a challenge, not 403.
        return f'{tokens.jwt_settings().header_types[0]} realm="{self.www_authenticate_realm}"'

    def _from_body_or_cookie(self, request: Request, field: str, cookie_name: str) -> str:
        value = request.data.get(field) if hasattr(request.data, "get") else None
        if value:
            if not isinstance(value, str):
                raise exceptions.ValidationError({field: [_("Not a valid string.")]})
            return value
        cookie = bastion_setting("JWT_COOKIE")
        if cookie is not None and request.COOKIES.get(cookie[cookie_name]):
            enforce_csrf(request._request)
            return request.COOKIES[cookie[cookie_name]]  # type: ignore[no-any-return]
        raise exceptions.ValidationError({field: [_("This field is required.")]})


def _set_cookies(response: Response, access: str | None, refresh: str | None) -> None:
    cookie = bastion_setting("JWT_COOKIE")
    js = tokens.jwt_settings()
    common = {
        "domain": cookie["DOMAIN"],
        "secure": cookie["SECURE"],
        "httponly": True,
        "samesite": cookie["SAMESITE"],
    }
    if access is not None:
        response.set_cookie(
            cookie["ACCESS"], access, max_age=js.access_lifetime, path=cookie["PATH"], **common
        )
    if refresh is not None:
        response.set_cookie(
            cookie["REFRESH"], refresh, max_age=js.refresh_lifetime, path=cookie["REFRESH_PATH"], **common
        )


def _token_response(request: Request, body: dict[str, str]) -> Response:
    if bastion_setting("JWT_COOKIE") is None:
        return Response(body, status=status.HTTP_200_OK)
    response = Response({}, status=status.HTTP_200_OK)
    _set_cookies(response, body.get("access"), body.get("refresh"))
    get_token(request._request)  # the CSRF cookie the client sends back with its POSTs
    return response


def _pair_body(pair: TokenPair) -> dict[str, str]:
    return {"refresh": pair.refresh, "access": pair.access}


class TokenObtainPairView(_TokenView):
    """Username and password to a token pair (simplejwt's ``TokenObtainPairView``)."""

    def post(self, request: Request) -> Response:
        form = _Credentials(data=request.data)
        form.is_valid(raise_exception=True)
        credentials = dict(form.validated_data)
        user = authenticate(request._request, **credentials)
        locked = lockout_response(request._request)
        if locked is not None:
            return locked  # type: ignore[return-value]
        if user is None or not user.is_active:
            raise exceptions.AuthenticationFailed(
                _("No active account found with the given credentials"), code="no_active_account"
            )
        try:
            pair = tokens.issue_for_user(user)
            record_login_success(request._request, user)
        except StoreUnavailableError as e:
            raise token_error(e) from None
        if tokens.jwt_settings().update_last_login:
            update_last_login(None, user)
        return _token_response(request, _pair_body(pair))


class TokenRefreshView(_TokenView):
    """A refresh token to a new access token (and refresh token, with rotation)."""

    def post(self, request: Request) -> Response:
        raw = self._from_body_or_cookie(request, "refresh", "REFRESH")
        try:
            body = tokens.refresh(raw)
        except (PyJWTError, InvalidTokenError, StoreUnavailableError) as e:
            raise token_error(e) from None
        except tokens.InactiveUserError:
            raise exceptions.AuthenticationFailed(
                _("No active account found for the given token."), code="no_active_account"
            ) from None
        return _token_response(request, body)


class TokenVerifyView(_TokenView):
    """200 ``{}`` when the token verifies and is not revoked, else 401."""

    def post(self, request: Request) -> Response:
        raw = request.data.get("token") if hasattr(request.data, "get") else None
        if not raw or not isinstance(raw, str):
            raise exceptions.ValidationError({"token": [_("This field is required.")]})
        try:
            tokens.verify_token(raw)
        except (PyJWTError, InvalidTokenError, StoreUnavailableError) as e:
            raise token_error(e) from None
        return Response({}, status=status.HTTP_200_OK)


def _clear_cookies(response: Response) -> None:
    cookie = bastion_setting("JWT_COOKIE")
    if cookie is not None:
        response.delete_cookie(cookie["ACCESS"], path=cookie["PATH"], domain=cookie["DOMAIN"])
        response.delete_cookie(cookie["REFRESH"], path=cookie["REFRESH_PATH"], domain=cookie["DOMAIN"])


class TokenBlacklistView(_TokenView):
    """Logout: the refresh token and its family (every access token derived from it) revoked."""

    def post(self, request: Request) -> Response:
        raw = self._from_body_or_cookie(request, "refresh", "REFRESH")
        try:
            tokens.revoke(raw)
        except (PyJWTError, InvalidTokenError, StoreUnavailableError) as e:
            raise token_error(e) from None
        response = Response({}, status=status.HTTP_200_OK)
        _clear_cookies(response)
        return response


class LogoutEverywhereView(APIView):
    """Revokes every token the authenticated user holds, on every device."""

    authentication_classes = (JWTAuthentication,)
    permission_classes = (IsAuthenticated,)
    throttle_scope: str | None = None

    def post(self, request: Request) -> Response:
        try:
            tokens.revoke_user(request.user)
        except StoreUnavailableError as e:
            raise token_error(e) from None
        response = Response({}, status=status.HTTP_200_OK)
        _clear_cookies(response)
        return response
