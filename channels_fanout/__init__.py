"""A Django Channels layer on Redis pub/sub: one subscriber connection per process, local fan-out."""

from .exceptions import ChannelLayerRefused, ChannelLayerUnavailable, FanoutError
from .layer import FanoutChannelLayer
from .version import __version__

__all__ = ["ChannelLayerRefused", "ChannelLayerUnavailable", "FanoutChannelLayer", "FanoutError", "__version__"]
