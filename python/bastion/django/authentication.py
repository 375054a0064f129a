"""DRF authentication: ``bastion.django.authentication.JWTAuthentication``.

A drop-in for simplejwt's ``JWTAuthentication``: the ``Authorization: Bearer <token>`` header
(``AUTH_HEADER_TYPES``, ``AUTH_HEADER_NAME``), the user looked up by ``USER_ID_FIELD`` from the
``USER_ID_CLAIM`` claim, inactive users refused (``CHECK_USER_IS_ACTIVE``), simplejwt's error
bodies (``{"detail": ..., "code": "token_not_valid"}``). Verification and the revocation check are
one call of :class:`bastion.TokenService`; a revoked token (logout, password change, reuse of a
rotated refresh token) is refused at once in every process sharing the store.

With ``BASTION["JWT_COOKIE"]`` the access token may come from its HttpOnly cookie instead; a request
authenticated by cookie must then pass Django's CSRF check on unsafe methods (as DRF's
``SessionAuthentication``), since a browser sends cookies on cross-site requests.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, CSRFCheck
from rest_framework.request import Request

from bastion._native import http_authorization_token
from bastion.exceptions import (
    DecodeError,
    ExpiredSignatureError,
    InvalidTokenError,
    PyJWTError,
    StoreUnavailableError,
    TokenRevokedError,
)

from .conf import bastion_setting
from .tokens import jwt_settings, verify_any

__all__ = ["InvalidToken", "JWTAuthentication", "ServiceUnavailable", "authenticate_jwt", "enforce_csrf"]

_CACHE_ATTR = "_bastion_jwt"


class InvalidToken(exceptions.AuthenticationFailed):
    """401 with simplejwt's body: ``{"detail": ..., "code": "token_not_valid"}``."""

    default_detail = _("Given token not valid for any token type")
    default_code = "token_not_valid"

    def __init__(self, detail: Any = None, code: str | None = None) -> None:
        body = {"detail": detail or self.default_detail, "code": code or self.default_code}
        super().__init__(body, code)


class ServiceUnavailable(exceptions.APIException):
    """503: the store holding revocations did not answer (the token is not known to be bad)."""

    status_code = 503
    default_detail = _("Authentication is temporarily unavailable.")
    default_code = "store_unavailable"


def token_error(exc: BaseException) -> exceptions.APIException:
    """The DRF exception answering a bastion token error."""
    if isinstance(exc, StoreUnavailableError):
        return ServiceUnavailable()
    if isinstance(exc, TokenRevokedError):
        return InvalidToken(_("Token is blacklisted"))
    if isinstance(exc, ExpiredSignatureError):
        return InvalidToken(_("Token is expired"))
    return InvalidToken(_("Token is invalid"))


def enforce_csrf(request: HttpRequest) -> None:
    """Django's CSRF check (``CsrfViewMiddleware``) for one request; 403 when it fails."""

    def no_response(_request: HttpRequest) -> None:
        return None

    check = CSRFCheck(no_response)  # type: ignore[arg-type]
    check.process_request(request)
    reason = check.process_view(request, None, (), {})  # type: ignore[arg-type]
    if reason:
        raise exceptions.PermissionDenied(f"CSRF Failed: {reason}")


def _raw_token(request: HttpRequest) -> tuple[str | None, bool]:
    """The access token of the request and whether it came from the cookie."""
    js = jwt_settings()
    header = request.META.get(js.header_name)
    if header:
        # The core reads the header (the scheme compared case-insensitively, one token after it);
        # another scheme is left to the other authentication classes, as simplejwt does.
        try:
            return http_authorization_token(header, list(js.header_types)), False
        except DecodeError:
            raise exceptions.AuthenticationFailed(
                _("Authorization header must contain two space-delimited values"),
                code="bad_authorization_header",
            ) from None
    cookie = bastion_setting("JWT_COOKIE")
    if cookie is not None:
        value = request.COOKIES.get(cookie["ACCESS"])
        if value:
            return value, True
    return None, False


def _user(claims: dict[str, Any]) -> Any:
    js = jwt_settings()
    if js.user_id_claim not in claims:
        raise InvalidToken(_("Token contained no recognizable user identification"))
    model = get_user_model()
    try:
        user = model._default_manager.get(**{js.user_id_field: claims[js.user_id_claim]})
    except (model.DoesNotExist, ValueError, TypeError):
        raise exceptions.AuthenticationFailed(_("User not found"), code="user_not_found") from None
    if js.check_user_is_active and not user.is_active:
        raise exceptions.AuthenticationFailed(_("User is inactive"), code="user_inactive")
    return user


def authenticate_jwt(request: HttpRequest) -> tuple[Any, dict[str, Any], bool] | None:
    """``(user, claims, from_cookie)`` of a Django request's access token, or None without one;
    resolved once per request: the middleware and the DRF class share the answer (and the error).
    The CSRF check of cookie tokens is the caller's (see :class:`JWTAuthentication`)."""
    cached = getattr(request, _CACHE_ATTR, None)
    if cached is None:
        try:
            raw, from_cookie = _raw_token(request)
            if raw is None:
                cached = ()
            else:
                try:
                    claims = verify_any(raw, "access")
                except (PyJWTError, InvalidTokenError, StoreUnavailableError) as e:
                    raise token_error(e) from None
                cached = (_user(claims), claims, from_cookie)
        except exceptions.APIException as e:
            cached = e
        setattr(request, _CACHE_ATTR, cached)
    if isinstance(cached, BaseException):
        raise cached
    return cached or None


class JWTAuthentication(BaseAuthentication):
    """simplejwt's ``JWTAuthentication`` on bastion: ``request.user`` and ``request.auth`` (the
    verified claims, a dict)."""

    www_authenticate_realm = "api"

    def authenticate(self, request: Request) -> tuple[Any, dict[str, Any]] | None:
        found = authenticate_jwt(request._request)
        if found is None:
            return None
        user, claims, from_cookie = found
        if from_cookie:
            enforce_csrf(request._request)
        return user, claims

    def authenticate_header(self, request: Request) -> str:
        return f'{jwt_settings().header_types[0]} realm="{self.www_authenticate_realm}"'
