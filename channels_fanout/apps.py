"""The Django app: add ``"channels_fanout"`` to INSTALLED_APPS for the system checks and management commands."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class ChannelsFanoutConfig(AppConfig):  # type: ignore[misc]
    name = "channels_fanout"
    verbose_name = "Channels fan-out layer"

    def ready(self) -> None:
        from .operations.checks import check_options, check_redis

        # Django's registry is a set: registering again when apps reload is harmless.
        checks.register(check_options, "channels_fanout")
        # Deploy only: it connects to Redis, which every runserver and migrate would otherwise wait on.
        checks.register(check_redis, "channels_fanout", deploy=True)
