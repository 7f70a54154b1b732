from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from ...models import ChatRoom


class Command(BaseCommand):
    help = "Create a room with the given members and print only its id (32 hex digits)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("title")
        parser.add_argument("--member", action="append", required=True, dest="members", metavar="USERNAME")

    def handle(self, *args: Any, title: str, members: list[str], **options: Any) -> None:
        users = list(get_user_model().objects.filter(username__in=members))
        unknown = sorted(set(members) - {user.get_username() for user in users})
        if unknown:
            raise CommandError(f"No user named {', '.join(unknown)}; create one with: manage.py issue_token USERNAME")
        with transaction.atomic():
            room = ChatRoom.objects.create(title=title)
            room.members.add(*users)
        self.stdout.write(room.pk.hex)
