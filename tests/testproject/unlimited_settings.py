"""The testproject's settings without flood control, for tests whose users post faster than a person can."""

from testproject.settings import *  # noqa: F403

CHAT_RATE_LIMIT = None
