from django.apps import AppConfig


class ChatConfig(AppConfig):
    """The chat app; connects the membership signals that keep open connections' groups current."""

    name = "testproject.chat"
    label = "chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import ratelimit, signals  # noqa: F401  (signals connects the receivers)

        ratelimit.configured_limit()  # a bad CHAT_RATE_LIMIT stops every process at startup, naming the setting
