"""``fanout_status`` (the processes of the deployment) and ``fanout_ping`` (a round trip through Redis)."""
