from django.apps import AppConfig


class ChatConfig(AppConfig):
    """The chat app; connects the membership signals that keep open connections' groups current."""

    name = "testproject.chat"
    label = "chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import guessing, ratelimit, signals  # noqa: F401  (signals connects the receivers)

        # A bad CHAT_RATE_LIMIT or CHAT_TOKEN_FAILURE_LIMIT stops every process at startup, naming the setting.
        ratelimit.configured_limit()
        guessing.configured_limit()
