"""The layer on one event loop of this process: the node, its local fan-out into bounded inboxes, worker-channel
readers, and the private loop thread for callers whose own loop lasts one call. Uses the transport; never Redis
directly."""
