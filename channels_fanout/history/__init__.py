"""Per-group history in Redis Streams, for groups that opt in: what a subscriber missed while its connection was
down is read back and delivered in order, and clients catch up by position. Pure positions and merge logic, and the
Redis scripts, on top of the transport; the per-loop node wires them to its fan-out."""
