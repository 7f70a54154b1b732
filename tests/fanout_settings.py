"""Settings for running channels_fanout's management commands in a child process: Redis at ``REDIS_URL``."""

import os

SECRET_KEY = "channels_fanout tests"
INSTALLED_APPS = ["channels_fanout"]
USE_TZ = True
CHANNEL_LAYERS = {
    "default": {"BACKEND": "channels_fanout.FanoutChannelLayer", "CONFIG": {"hosts": [os.environ["REDIS_URL"]]}},
}
