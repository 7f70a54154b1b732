from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from ...models import ApiToken


class Command(BaseCommand):
    help = "Print USERNAME's API token (and nothing else), creating the user and the token if missing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        user, _ = get_user_model().objects.get_or_create(username=username)
        token, _ = ApiToken.objects.get_or_create(user=user)
        self.stdout.write(token.key)
