from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from ... import services
from ...models import ApiToken, ChatRoom

USERS = ["alice", "bob", "carol"]
ROOMS = {"General": USERS, "Alice and Bob": ["alice", "bob"], "Carol's notes": ["carol"]}


class Command(BaseCommand):
    help = (
        "Create the demo users (a new one gets the password) and rooms; print logins, tokens and room ids. "
        "Running it again creates nothing twice and changes no password. A token is shown only when issued: "
        "to users without one, or to all with --new-tokens."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--password", default="demo", help='The password of the users it creates (default "demo").')
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="Where the demo is served, for the hints.")
        parser.add_argument(
            "--new-tokens",
            action="store_true",
            help="Issue new API tokens to the demo users who have one too (their old tokens stop working).",
        )

    def handle(self, *args: Any, password: str, url: str, new_tokens: bool, **options: Any) -> None:
        with transaction.atomic():
            users = {name: self.demo_user(name, password) for name in USERS}
            rooms = {title: self.demo_room(title, [users[name] for name in names]) for title, names in ROOMS.items()}
            tokens = {name: self.demo_token(user, new_tokens) for name, user in users.items()}
        out = self.stdout.write
        logins = ", ".join(USERS)
        out(f"Open {url}/ and log in as {logins} with the password {password!r} (set when a user is created).")
        out("\nAPI tokens (the WebSocket 'authenticate' action, or the HTTP API), shown only when issued:")
        for name, token in tokens.items():
            out(f"  {name:<6} {token or 'issued before; manage.py setup_demo --new-tokens replaces them'}")
        out("\nRooms:")
        for title, room in rooms.items():
            out(f"  {room.pk.hex}  {title} ({', '.join(ROOMS[title])})")
        out("\nPost to General as alice from the shell:")
        out(
            f"  curl -X POST -H 'Authorization: Token {tokens['alice'] or '$TOKEN'}' "
            "-H 'Content-Type: application/json' "
            f"""-d '{{"text": "Hello from curl"}}' {url}/api/rooms/{rooms["General"].pk.hex}/messages/"""
        )

    def demo_user(self, name: str, password: str) -> Any:
        # Only a new user gets the password: a new hash would end every session of an existing one, since Django
        # ties a session to the password hash, and the demo runs this command on every start.
        user, created = get_user_model().objects.get_or_create(username=name)
        if created:
            user.set_password(password)
            user.save()
        return user

    def demo_token(self, user: Any, new: bool) -> str | None:
        """A new token for a user without one, or for every user if ``new``; None: the token issued before stays."""
        if new or not ApiToken.objects.filter(user=user).exists():
            return services.issue_token(user)
        return None

    def demo_room(self, title: str, members: list[Any]) -> ChatRoom:
        # Reused by title, so running the command again adds nobody twice and changes no room id.
        room = ChatRoom.objects.filter(title=title).first() or ChatRoom.objects.create(title=title)
        room.members.add(*members)
        return room
