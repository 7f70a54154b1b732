"""A Redis Cluster as one shard: the hub routes topics to per-primary sharded-pub/sub subscribers and commands to
per-primary publishers."""
