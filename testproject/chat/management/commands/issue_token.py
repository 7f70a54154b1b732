from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from ... import services


class Command(BaseCommand):
    help = (
        "Print a new API token for USERNAME (and nothing else), creating the user if missing. It replaces the "
        "user's token, which stops working: only a digest is stored, so a token can be shown only when issued."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        user, _ = get_user_model().objects.get_or_create(username=username)
        self.stdout.write(services.issue_token(user))
