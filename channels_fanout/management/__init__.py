"""Django management commands of channels_fanout (``channels_fanout`` in INSTALLED_APPS)."""
