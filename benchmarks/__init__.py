"""Benchmarks of channels_fanout side by side with channels_redis: ``python -m benchmarks`` (docs/benchmarks.md)."""
