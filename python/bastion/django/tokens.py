"""JWTs with djangorestframework-simplejwt's settings, on :class:`bastion.TokenService`.

``SIMPLE_JWT`` keeps its meaning: ``SIGNING_KEY`` / ``VERIFYING_KEY`` / ``ALGORITHM``, ``AUDIENCE``,
``ISSUER``, ``LEEWAY``, ``ACCESS_TOKEN_LIFETIME`` / ``REFRESH_TOKEN_LIFETIME``,
``ROTATE_REFRESH_TOKENS`` / ``BLACKLIST_AFTER_ROTATION``, ``USER_ID_FIELD`` / ``USER_ID_CLAIM``,
``TOKEN_TYPE_CLAIM``, ``JTI_CLAIM``, ``AUTH_HEADER_TYPES`` / ``AUTH_HEADER_NAME``,
``UPDATE_LAST_LOGIN`` and ``CHECK_USER_IS_ACTIVE``. Tokens simplejwt issued before the switch stay
valid: they carry no family, so they are checked against bastion's revocations (their ``jti`` and
the user's "revoke everything" mark) and, while simplejwt's ``token_blacklist`` app is installed,
against its ``BlacklistedToken`` table.

Stricter than simplejwt: with ``ROTATE_REFRESH_TOKENS`` a refresh token is always single-use
(reuse of a rotated token revokes its whole family), whatever ``BLACKLIST_AFTER_ROTATION`` says.
"""

from __future__ import annotations

import base64
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from bastion import Key, RateLimiter, TokenPair, TokenService, sign
from bastion.exceptions import (
    DecodeError,
    InvalidArgumentError,
    InvalidKeyError,
    InvalidTokenTypeError,
    TokenReusedError,
    TokenRevokedError,
)

from .conf import bastion_setting, cached, get_clock, get_store, now

__all__ = [
    "InactiveUserError",
    "JwtSettings",
    "jwt_settings",
    "refresh",
    "revoke",
    "revoke_user",
    "token_service",
    "verify_any",
    "verify_token",
]

log = logging.getLogger("bastion.django")


class InactiveUserError(PermissionError):
    """The token's user does not exist any more, or is inactive."""


SIMPLE_JWT_DEFAULTS: dict[str, Any] = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=5),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=1),
    "ROTATE_REFRESH_TOKENS": False,
    "BLACKLIST_AFTER_ROTATION": False,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": None,  # settings.SECRET_KEY
    "VERIFYING_KEY": "",
    "AUDIENCE": None,
    "ISSUER": None,
    "JWK_URL": None,
    "LEEWAY": 0,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "AUTH_HEADER_NAME": "HTTP_AUTHORIZATION",
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "TOKEN_TYPE_CLAIM": "token_type",
    "JTI_CLAIM": "jti",
    "CHECK_USER_IS_ACTIVE": True,
}

HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")


@dataclass(frozen=True)
class JwtSettings:
    """``SIMPLE_JWT`` read once, with simplejwt's defaults."""

    access_lifetime: int
    refresh_lifetime: int
    rotate: bool
    blacklist_after_rotation: bool
    update_last_login: bool
    algorithm: str
    signing_key: str | bytes
    verifying_key: str | bytes
    audience: str | None
    issuer: str | None
    leeway: float
    header_types: tuple[str, ...]
    header_name: str
    user_id_field: str
    user_id_claim: str
    token_type_claim: str
    check_user_is_active: bool

    def __repr__(self) -> str:  # never the keys
        return f"<JwtSettings algorithm={self.algorithm} user_id_claim={self.user_id_claim!r}>"


def _lifetime(value: Any, name: str) -> int:
    secs = value.total_seconds() if isinstance(value, timedelta) else value
    if not isinstance(secs, (int, float)) or isinstance(secs, bool) or secs < 1:
        raise ImproperlyConfigured(f"SIMPLE_JWT['{name}'] must be a positive timedelta")
    return int(secs)


def _read() -> JwtSettings:
    user = getattr(settings, "SIMPLE_JWT", None) or {}
    s = {**SIMPLE_JWT_DEFAULTS, **user}
    if s["JWK_URL"]:
        raise ImproperlyConfigured(
            "SIMPLE_JWT['JWK_URL'] is not supported by bastion.django's JWTAuthentication: "
            "verify provider tokens with bastion.JwksClient"
        )
    if s["JTI_CLAIM"] != "jti":
        raise ImproperlyConfigured("SIMPLE_JWT['JTI_CLAIM'] must be 'jti' (the registered claim)")
    header_types = s["AUTH_HEADER_TYPES"]
    if isinstance(header_types, str):
        header_types = (header_types,)
    leeway = s["LEEWAY"]
    leeway = leeway.total_seconds() if isinstance(leeway, timedelta) else float(leeway)
    signing_key = s["SIGNING_KEY"] if s["SIGNING_KEY"] is not None else settings.SECRET_KEY
    return JwtSettings(
        access_lifetime=_lifetime(s["ACCESS_TOKEN_LIFETIME"], "ACCESS_TOKEN_LIFETIME"),
        refresh_lifetime=_lifetime(s["REFRESH_TOKEN_LIFETIME"], "REFRESH_TOKEN_LIFETIME"),
        rotate=bool(s["ROTATE_REFRESH_TOKENS"]),
        blacklist_after_rotation=bool(s["BLACKLIST_AFTER_ROTATION"]),
        update_last_login=bool(s["UPDATE_LAST_LOGIN"]),
        algorithm=s["ALGORITHM"],
        signing_key=signing_key,
        verifying_key=s["VERIFYING_KEY"] or "",
        audience=s["AUDIENCE"],
        issuer=s["ISSUER"],
        leeway=leeway,
        header_types=tuple(header_types),
        header_name=s["AUTH_HEADER_NAME"],
        user_id_field=s["USER_ID_FIELD"],
        user_id_claim=s["USER_ID_CLAIM"],
        token_type_claim=s["TOKEN_TYPE_CLAIM"],
        check_user_is_active=bool(s["CHECK_USER_IS_ACTIVE"]),
    )


def jwt_settings() -> JwtSettings:
    """``SIMPLE_JWT`` of this process (read again after ``override_settings``)."""
    return cached("jwt_settings", _read)


def _keys(js: JwtSettings) -> tuple[Key, list[Key]]:
    try:
        if js.algorithm in HMAC_ALGORITHMS:
            return Key.hmac(js.signing_key), []
        signing = Key.from_pem(js.signing_key)
        verifying = [Key.from_pem(js.verifying_key)] if js.verifying_key else []
        return signing, verifying
    except (InvalidKeyError, InvalidArgumentError) as e:
        # The message names the rule that failed, never the key.
        raise ImproperlyConfigured(f"SIMPLE_JWT['SIGNING_KEY'] / ['VERIFYING_KEY']: {e}") from None


def _on_event(event: dict[str, str]) -> None:
    log.warning("%s %s", event.get("category", "[AUTH]"), {k: v for k, v in event.items() if k != "category"})


def _build_service() -> TokenService:
    js = jwt_settings()
    key, verify_keys = _keys(js)
    try:
        return TokenService(
            key,
            store=get_store(),
            algorithm=js.algorithm,
            access_lifetime=js.access_lifetime,
            refresh_lifetime=js.refresh_lifetime,
            issuer=js.issuer,
            audience=js.audience,
            leeway=js.leeway,
            subject_claim=js.user_id_claim,
            type_claim=js.token_type_claim,
            revocation_policy=bastion_setting("OUTAGE_POLICY")["TOKENS"],
            verify_keys=verify_keys or None,
            clock=get_clock(),
            on_event=_on_event,
        )
    except (InvalidArgumentError, InvalidKeyError) as e:
        raise ImproperlyConfigured(f"SIMPLE_JWT: {e}") from None


def token_service() -> TokenService:
    """The process's :class:`bastion.TokenService`, built from ``SIMPLE_JWT`` and ``BASTION``."""
    return cached("token_service", _build_service)


def _legacy_claims() -> RateLimiter:
    # A refresh token issued by simplejwt (no family) is rotated at most once: the first rotation
    # takes its jti's single slot, atomically in the store.
    js = jwt_settings()
    return cached(
        "legacy_refresh",
        lambda: RateLimiter(f"1/{js.refresh_lifetime}s", store=get_store(), name="jwt_legacy_refresh"),
    )


def subject_of(user: Any) -> str:
    """The token subject of ``user``: its ``USER_ID_FIELD``, as text (simplejwt 5.5's form)."""
    return str(getattr(user, jwt_settings().user_id_field))


def issue_for_user(user: Any) -> TokenPair:
    """A new pair (a new family) for ``user``."""
    return token_service().issue_pair(subject_of(user))


async def aissue_for_user(user: Any) -> TokenPair:
    return await token_service().aissue_pair(subject_of(user))


def _blacklisted_by_simplejwt(jti: str) -> bool:
    if not apps.is_installed("rest_framework_simplejwt.token_blacklist"):
        return False
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

    return BlacklistedToken.objects.filter(token__jti=jti).exists()  # type: ignore[no-any-return]


def verify_any(token: str, kind: str = "access") -> dict[str, Any]:
    """Verifies ``token`` (signature, claims, type, revocations; simplejwt's blacklist for tokens
    simplejwt issued); returns its claims. Raises bastion's token errors: text that cannot be a
    token (not a str, a lone surrogate from a JSON body) is a malformed token."""
    try:
        claims = token_service().verify(token, kind)
    except (InvalidArgumentError, TypeError):
        raise DecodeError("the token is malformed") from None
    if "fam" not in claims and _blacklisted_by_simplejwt(str(claims.get("jti", ""))):
        raise TokenRevokedError("the token was blacklisted")
    return claims


def _random_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode("ascii")


def _access_from(claims: dict[str, Any]) -> str:
    """A new access token for the refresh token's subject and family (``ROTATE_REFRESH_TOKENS``
    off: the refresh token stays as it is, as in simplejwt)."""
    js = jwt_settings()
    key, _ = _keys(js)
    iat = int(now())
    access: dict[str, Any] = {
        js.user_id_claim: claims[js.user_id_claim],
        "iat": iat,
        "exp": iat + js.access_lifetime,
        "jti": _random_id(),
        js.token_type_claim: "access",
    }
    if "fam" in claims:  # the access token dies with its family (logout)
        access["fam"] = claims["fam"]
    if js.issuer is not None:
        access["iss"] = js.issuer
    if js.audience is not None:
        access["aud"] = js.audience
    return sign(access, key, js.algorithm)


def _active_user(claims: dict[str, Any]) -> None:
    """simplejwt's refresh rule: a user that no longer exists or is inactive gets nothing."""
    from django.contrib.auth import get_user_model

    js = jwt_settings()
    model = get_user_model()
    user = model._default_manager.filter(**{js.user_id_field: claims.get(js.user_id_claim)}).first()
    if user is None or (js.check_user_is_active and not user.is_active):
        raise InactiveUserError("no active account found for the given token")


def refresh(token: str) -> dict[str, str]:
    """simplejwt's refresh: ``{"access"}``, plus ``"refresh"`` with ``ROTATE_REFRESH_TOKENS``.

    Rotation goes through :meth:`TokenService.rotate` (exactly one winner; reuse of a rotated
    token revokes its family: ``TokenReusedError``). A refresh token simplejwt issued is rotated
    into a new family at most once. ``InactiveUserError`` when the user is gone or inactive.
    """
    js = jwt_settings()
    service = token_service()
    claims = verify_any(token, "refresh")
    _active_user(claims)
    if not js.rotate:
        return {"access": _access_from(claims)}
    if "fam" in claims:
        pair = service.rotate(token)
        return {"access": pair.access, "refresh": pair.refresh}
    # Issued by simplejwt (no family): its jti's single slot is taken atomically, then it is revoked.
    if not _legacy_claims().check(str(claims["jti"])):
        raise TokenReusedError("the refresh token was already rotated")
    pair = service.issue_pair(str(claims[js.user_id_claim]))
    service.revoke(token, admin=True)
    return {"access": pair.access, "refresh": pair.refresh}


def revoke(token: str) -> None:
    """Blacklists a refresh token (and its family): simplejwt's ``TokenBlacklistView``."""
    claims = verify_any(token, "refresh")
    token_service().revoke(token, by=str(claims[jwt_settings().user_id_claim]))


def revoke_user(user: Any) -> None:
    """Revokes every token ``user`` holds (logout everywhere, password change)."""
    token_service().revoke_all(subject_of(user))


def verify_token(token: str) -> dict[str, Any]:
    """simplejwt's ``TokenVerifyView``: an access or a refresh token."""
    try:
        return verify_any(token, "access")
    except InvalidTokenTypeError:
        return verify_any(token, "refresh")
