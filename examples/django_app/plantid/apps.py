from __future__ import annotations

import logging
from typing import Any

from django.apps import AppConfig

log = logging.getLogger("plantid")


def send_lockout_email(sender: Any, username: str | None, retry_after: int, **_: Any) -> None:
    """Reference deployment 1: the account owner is told by e-mail that the account was locked."""
    from django.contrib.auth import get_user_model
    from django.core.mail import send_mail

    user = get_user_model()._default_manager.filter(username=username).first() if username else None
    log.warning("[LOCKOUT] %s locked for %s s", username, retry_after)
    if user is not None and user.email:
        send_mail(
            "Your account was locked",
            f"After too many failed sign-ins your account is locked for {retry_after // 60} minutes.",
            None,
            [user.email],
        )


class PlantIdConfig(AppConfig):
    name = "plantid"

    def ready(self) -> None:
        from bastion.django.signals import user_locked_out

        user_locked_out.connect(send_lockout_email, dispatch_uid="plantid.lockout_email")
