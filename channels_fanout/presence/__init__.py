"""Presence: which keys (users, say) have channels in a group, across every process, with join and leave events.

Entries live in Redis beside the group's topic (one slot); each process keeps its own alive with one
script per group per beat and re-asserts them when Redis lost them; the first script to see a dead
process's deadline passed removes its entries and announces the leaves, atomically, so exactly once.
Built on the transport; knows nothing of inboxes or the layer (the node wires it in).
"""
