"""The Django app ``bastion.django``."""

from __future__ import annotations

from django.apps import AppConfig


class BastionConfig(AppConfig):
    name = "bastion.django"
    label = "bastion"
    verbose_name = "bastion"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.signals import user_logged_in, user_login_failed
        from django.db.models.signals import post_save, pre_save

        from . import checks  # noqa: F401 - registers the system checks
        from .lockout import on_logged_in, on_login_failed
        from .signals import password_changing, password_saved

        user_login_failed.connect(on_login_failed, dispatch_uid="bastion.lockout.failed")
        user_logged_in.connect(on_logged_in, dispatch_uid="bastion.lockout.success")
        user = get_user_model()
        pre_save.connect(password_changing, sender=user, dispatch_uid="bastion.password.changing")
        post_save.connect(password_saved, sender=user, dispatch_uid="bastion.password.saved")
