"""HTTP answers shared by the web integrations: RFC 9457 problem details and the status, headers
and body each bastion error maps to. Framework-neutral: bodies are bytes, headers a dict."""

from __future__ import annotations

import json
import math
from http import HTTPStatus
from typing import Any

from bastion import exceptions as exc

PROBLEM_JSON = "application/problem+json"

__all__ = ["PROBLEM_JSON", "Answer", "answer_for", "problem", "retry_after_seconds", "unauthorized"]


class Answer:
    """A ready HTTP answer: ``status``, ``headers`` (including ``Content-Type``) and ``body``; its
    ``code`` and ``detail`` too."""

    __slots__ = ("body", "code", "detail", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes, code: str, detail: str) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.code = code
        self.detail = detail

    def __repr__(self) -> str:
        return f"Answer({self.status}, {self.code!r})"


def retry_after_seconds(retry_after: float | None) -> int | None:
    """``Retry-After`` as whole seconds, rounded up, at least 1 (RFC 9110 §10.2.3)."""
    if retry_after is None:
        return None
    return max(1, math.ceil(retry_after))


def problem(
    status: int,
    detail: str,
    *,
    code: str,
    retry_after: float | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Answer:
    """An ``application/problem+json`` answer (RFC 9457): ``type`` ``about:blank`` with the status's
    reason phrase as ``title``, ``detail``, and the extensions ``code`` (the stable error code, as
    Node's ``err.code``) and ``retry_after`` (seconds) when given. ``Retry-After`` goes in the headers
    too."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    out = dict(headers or {})
    seconds = retry_after_seconds(retry_after)
    if seconds is not None:
        body["retry_after"] = seconds
        out["Retry-After"] = str(seconds)
    body.update(extra)
    out["Content-Type"] = PROBLEM_JSON
    return Answer(status, out, json.dumps(body, separators=(",", ":")).encode(), code, detail)


# A token failure's ``error_description``: the kind of failure, never the token or its claims.
_TOKEN_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (exc.ExpiredSignatureError, "the token has expired"),
    (exc.ImmatureSignatureError, "the token is not valid yet"),
    (exc.TokenReusedError, "the token was already used"),
    (exc.TokenRevokedError, "the token was revoked"),
    (exc.InvalidTokenTypeError, "the token is not an access token"),
    (exc.InvalidAudienceError, "the token is not for this audience"),
    (exc.InvalidIssuerError, "the token is not from a trusted issuer"),
    (exc.InvalidAlgorithmError, "the token's algorithm is not accepted"),
    (exc.InvalidSignatureError, "the token's signature is not valid"),
    (exc.MissingRequiredClaimError, "the token lacks a required claim"),
    (exc.DecodeError, "the token is malformed"),
)


def unauthorized(detail: str, code: str, *, error: str | None = "invalid_token") -> Answer:
    """401 with ``WWW-Authenticate: Bearer`` (RFC 6750: ``error`` only when a token was sent)."""
    challenge = "Bearer" if error is None else f'Bearer error="{error}", error_description="{detail}"'
    return problem(401, detail, code=code, headers={"WWW-Authenticate": challenge})


def answer_for(error: BaseException, *, lockout_status: int = 429) -> Answer | None:
    """The HTTP answer for a bastion error (None for others): 401 for token and API-key failures,
    403 for a refused permission, 429 (or ``lockout_status``) for a lockout, 429 for a rate limit,
    503 for an open circuit, an unreachable store or identity provider's key set. Details name the
    kind of failure only."""
    if isinstance(error, exc.RateLimitExceeded):
        return problem(429, "too many requests", code="RATE_LIMITED", retry_after=error.retry_after)
    if isinstance(error, exc.AccountLockedError):
        return problem(
            lockout_status,
            "too many failed attempts: locked out",
            code="ACCOUNT_LOCKED",
            retry_after=error.retry_after,
        )
    if isinstance(error, exc.CircuitOpenError):
        return problem(
            503, "the upstream service is unavailable", code="CIRCUIT_OPEN", retry_after=error.retry_after
        )
    if isinstance(error, exc.PyJWKClientConnectionError):
        # The identity provider's key set could not be fetched: not the caller's fault.
        return problem(503, "the identity provider's keys are unavailable", code=error.code, retry_after=1)
    if isinstance(error, exc.StoreUnavailableError):
        return problem(503, "the state store is unavailable", code="STORE_UNAVAILABLE", retry_after=1)
    if isinstance(error, exc.PermissionDeniedError):
        return problem(403, "not allowed", code="PERMISSION_DENIED")
    if isinstance(error, exc.ApiKeyError):
        return unauthorized("the API key is not valid", error.code)
    if isinstance(error, exc.InvalidTokenError):
        for kind, reason in _TOKEN_REASONS:
            if isinstance(error, kind):
                return unauthorized(reason, error.code)
        return unauthorized("the token is not valid", error.code)
    return None
