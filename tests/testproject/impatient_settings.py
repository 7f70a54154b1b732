"""The testproject's settings with a layer that gives up on Redis after 1 s instead of 5, for outage tests."""

from testproject.settings import *  # noqa: F403
from testproject.settings import CHANNEL_LAYERS as _PROJECT_LAYERS

_DEFAULT = _PROJECT_LAYERS["default"]
CHANNEL_LAYERS = {"default": {**_DEFAULT, "CONFIG": {**_DEFAULT["CONFIG"], "command_timeout": 1}}}
