"""HTTP answers shared by the web integrations: RFC 9457 problem details and the answer each
bastion error maps to. Every rule (status, detail, ``Retry-After`` rounding, ``WWW-Authenticate``,
the body's bytes) is the core's (``bastion._native.http_*``), the same as Node's; this module
only adapts the calling convention. Framework-neutral: bodies are bytes, headers a dict."""

from __future__ import annotations

import json
from typing import Any

from bastion import _native
from bastion._native import HttpAnswer as Answer
from bastion._native import http_methods as methods
from bastion.exceptions import BastionError, InvalidArgumentError

PROBLEM_JSON = "application/problem+json"

__all__ = ["PROBLEM_JSON", "Answer", "answer_for", "methods", "problem", "unauthorized"]


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
    RFC 9110 reason phrase as ``title``, ``detail``, and the extensions ``code`` (the stable error
    code, as Node's ``err.code``) and ``retry_after`` (whole seconds, rounded up, at least 1; also
    the ``Retry-After`` header) when given; then ``extra`` (JSON values, not reusing those names).
    Raises ``InvalidArgumentError`` for a status that is not a 4xx/5xx, an empty detail, a header
    holding CR/LF, or an extension that is not JSON."""
    text = None
    if extra:
        try:
            text = json.dumps(extra, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise InvalidArgumentError(
                f"problem extensions must be JSON values ({type(e).__name__})"
            ) from None
    return _native.http_problem(status, detail, code, retry_after=retry_after, headers=headers, extra=text)


def unauthorized(detail: str, code: str, *, error: str | None = "invalid_token") -> Answer:
    """401 with ``WWW-Authenticate: Bearer`` (RFC 6750: ``error`` only when a token was sent)."""
    return _native.http_unauthorized(detail, code, error)


def answer_for(error: BaseException, *, lockout_status: int = 429) -> Answer | None:
    """The HTTP answer for a bastion error (None for others and for server-side failures): 401 for
    token and API-key failures, 403 for a refused permission, 429 (or ``lockout_status``) for a
    lockout, 429 for a rate limit, 503 for an open circuit, an unreachable store or identity
    provider's key set. Details name the kind of failure only."""
    if not isinstance(error, BastionError):
        return None
    retry_after = getattr(error, "retry_after", None)
    if not isinstance(retry_after, (int, float)):
        retry_after = None
    return _native.http_answer_for(error.code, retry_after, lockout_status)
