"""What the layer reports about itself: ``stats()`` read off the counters each component keeps, and the periodic
reports to Redis behind ``cluster_stats()`` and ``fanout_status``."""
