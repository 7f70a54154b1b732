"""Redis, by topology: a hub per server (one supervised subscriber connection and an auto-pipelining publisher),
sharding over several hosts, Sentinel masters, and Redis Cluster on sharded pub/sub. Knows topics, keys and bytes;
never channels, groups or inboxes."""
