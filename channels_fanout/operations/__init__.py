"""Tools for whoever runs a deployment, found through ``CHANNEL_LAYERS``: system checks, the Redis round trip
(``fanout_ping``), and the Prometheus collector and ``/metrics`` view."""
