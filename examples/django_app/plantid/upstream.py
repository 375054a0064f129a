"""The paid identification API (2-9 s per call, sometimes failing)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from django.conf import settings


class UpstreamError(Exception):
    """The identification API failed or answered garbage."""


def identify_remote(image: str) -> dict[str, Any]:
    """POSTs the image to ``PLANT_API_URL``; 10 s timeout."""
    body = json.dumps({"image": image}).encode()
    request = urllib.request.Request(  # noqa: S310 - a configured https URL
        settings.PLANT_API_URL, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            result = json.loads(response.read(1 << 20))
    except (OSError, ValueError) as e:
        raise UpstreamError(str(e)) from None
    if not isinstance(result, dict):
        raise UpstreamError("unexpected answer")
    return result
