"""Signals of ``bastion.django`` and the receivers it connects.

- :data:`user_locked_out`: sent once per lock, by the failed login that made it, with
  ``request`` (None when not known), ``username``, ``ip_address`` (those the attempt carried),
  ``parameters`` (the groups that locked, e.g. ``["username", "ip_address"]``) and
  ``retry_after`` (seconds).
  Connect a receiver to send reference deployment 1's "your account was locked" e-mail.
- A password change (``user.set_password(...)`` then ``save()``) revokes every token the user
  holds, before the save completes (so a store that cannot answer fails the save instead of
  leaving the old tokens valid). Django's silent hash upgrade on login is not a change.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

__all__ = ["password_saved", "user_locked_out"]

user_locked_out = Signal()


def password_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    """``post_save`` of the user model: revokes the user's tokens when ``set_password`` ran."""
    from .conf import bastion_setting
    from .tokens import revoke_user

    if kwargs.get("raw") or not bastion_setting("REVOKE_TOKENS_ON_PASSWORD_CHANGE"):
        return
    if getattr(instance, "_bastion_password_changed", False):
        instance._bastion_password_changed = False
        revoke_user(instance)


def password_changing(sender: Any, instance: Any, **kwargs: Any) -> None:
    """``pre_save``: ``set_password`` leaves the raw password in ``_password`` until the save
    (Django's hash upgrade clears it first), which marks a real change."""
    if instance.pk is not None and getattr(instance, "_password", None) is not None:
        instance._bastion_password_changed = True
