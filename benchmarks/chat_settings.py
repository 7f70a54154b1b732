"""The testproject's settings with the channel layer chosen by the benchmark: ``BENCHMARK_CHANNEL_LAYER``.

Holds a dotted class path; the layer gets ``{"hosts": [REDIS_URL]}`` and its defaults, as in
the other scenarios. Everything else is the chat project as a person runs it, except flood control:
the benchmark's senders post as fast as the chat carries their messages, which is what it measures.
"""

import os

from testproject.settings import *  # noqa: F403
from testproject.settings import REDIS_URL

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": os.environ["BENCHMARK_CHANNEL_LAYER"],
        "CONFIG": {"hosts": [REDIS_URL]},
    }
}
CHAT_RATE_LIMIT = None
