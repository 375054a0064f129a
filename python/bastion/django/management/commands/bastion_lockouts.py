"""``manage.py bastion_lockouts``: the account locks in force, soonest to end first."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from bastion.django.lockout import locked


class Command(BaseCommand):
    help = "List the account locks in force (username, IP address), soonest to end first."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=1000, help="at most this many (default 1000)")
        parser.add_argument("--json", action="store_true", help="one JSON object per line")

    def handle(self, *args: Any, **options: Any) -> None:
        locks = locked(options["limit"])
        if not locks:
            self.stdout.write("No account is locked.")
            return
        for lock in locks:
            if options["json"]:
                self.stdout.write(json.dumps(lock, sort_keys=True))
                continue
            who = ", ".join(
                f"{name}={lock[name]}" for name in ("username", "ip_address", "user_agent") if lock.get(name)
            )
            self.stdout.write(f"{who}  retry after {lock['retry_after']} s")
