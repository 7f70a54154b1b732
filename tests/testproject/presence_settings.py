"""The testproject's settings with a short presence_timeout, so that a test of a killed daphne takes seconds."""

from testproject.settings import *  # noqa: F403
from testproject.settings import CHANNEL_LAYERS as _PROJECT_LAYERS

PRESENCE_TIMEOUT = 1.5

_DEFAULT = _PROJECT_LAYERS["default"]
CHANNEL_LAYERS = {"default": {**_DEFAULT, "CONFIG": {**_DEFAULT["CONFIG"], "presence_timeout": PRESENCE_TIMEOUT}}}
