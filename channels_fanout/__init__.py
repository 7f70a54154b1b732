"""A Django Channels layer on Redis pub/sub: one subscriber connection per process, local fan-out."""

from .exceptions import ChannelLayerUnavailable, FanoutError
from .layer import FanoutChannelLayer
from .version import __version__

__all__ = ["ChannelLayerUnavailable", "FanoutChannelLayer", "FanoutError", "__version__"]
