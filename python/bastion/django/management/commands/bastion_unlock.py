"""``manage.py bastion_unlock``: remove the locks and failure counts of a user and/or an address."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bastion.django.lockout import unlock


class Command(BaseCommand):
    help = (
        "Unlock a username, an IP address, or that user at that address "
        "(their failure counts are removed too)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username")
        parser.add_argument("--ip", dest="ip_address")

    def handle(self, *args: Any, **options: Any) -> None:
        username, ip_address = options["username"], options["ip_address"]
        if not username and not ip_address:
            raise CommandError("give --username, --ip or both")
        removed = unlock(username, ip_address)
        self.stdout.write(f"Removed {removed} lockout record(s).")
