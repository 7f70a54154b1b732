import collections

from channels_fanout.transport.sharding import jump_hash, shard_of


def test_jump_hash_golden_values():
    # Pinned: every process of a deployment must map names to hosts alike, across versions too.
    assert [jump_hash(key, 10) for key in (0, 1, 2, 3, 0xDEADBEEF)] == [0, 6, 6, 8, 5]
    assert jump_hash(123456789, 1000) == 294


def test_shard_of_golden_values():
    topics = [b"asgi:group:chat", b"asgi:inbox:0123456789abcdef", b"asgi:queue:worker"]
    assert [shard_of(topic, 3) for topic in topics] == [1, 1, 0]
    assert all(shard_of(topic, 1) == 0 for topic in topics)


def test_adding_a_host_moves_about_one_in_n_names():
    names = [f"asgi:group:{i}".encode() for i in range(3000)]
    moved = sum(shard_of(name, 3) != shard_of(name, 4) for name in names)
    assert 600 < moved < 900  # about a quarter
    assert all(shard_of(name, 4) == 3 for name in names if shard_of(name, 3) != shard_of(name, 4))


def test_names_spread_evenly():
    counts = collections.Counter(shard_of(f"asgi:group:{i}".encode(), 3) for i in range(3000))
    assert min(counts.values()) > 850
