"""Presence entries and events, pure: what is stored, what a list returns, what members receive. No Redis."""

from __future__ import annotations

import json

import pytest

from channels_fanout.presence.entries import MAX_KEY_BYTES, MAX_META_BYTES, decode_list, diff_message, encode_entry


def test_an_entry_is_the_json_text_of_the_key_and_the_meta_in_ascii():
    entry = encode_entry("zoë", {"device": "phone", "since": 1.0, "tags": [], "empty": {}})
    assert entry.isascii()
    assert json.loads(entry) == ["zoë", {"device": "phone", "since": 1.0, "tags": [], "empty": {}}]


def test_no_meta_is_an_empty_dict():
    assert json.loads(encode_entry("bob", None)) == ["bob", {}]


@pytest.mark.parametrize(
    ("key", "meta", "error", "match"),
    [
        (42, {}, TypeError, "key must be a str"),
        (b"alice", {}, TypeError, "key must be a str"),
        (None, {}, TypeError, "key must be a str"),
        ("", {}, ValueError, f"1 to {MAX_KEY_BYTES} bytes"),
        ("é" * (MAX_KEY_BYTES // 2 + 1), {}, ValueError, f"1 to {MAX_KEY_BYTES} bytes"),
        ("\ud800", {}, ValueError, "valid Unicode"),
        ("alice", ["not", "a", "dict"], TypeError, "meta must be a dict"),
        ("alice", "text", TypeError, "meta must be a dict"),
        ("alice", {"when": object()}, TypeError, "JSON-serialisable"),
        ("alice", {"raw": b"bytes"}, TypeError, "JSON-serialisable"),
        ("alice", {"nan": float("nan")}, TypeError, "JSON-serialisable"),
        ("alice", {"blob": "x" * MAX_META_BYTES}, ValueError, f"over {MAX_META_BYTES}"),
    ],
)
def test_bad_keys_and_metas_raise_naming_the_problem(key, meta, error, match):
    with pytest.raises(error, match=match):
        encode_entry(key, meta)


def test_the_largest_key_and_meta_are_accepted():
    encode_entry("k" * MAX_KEY_BYTES, {"blob": "x" * (MAX_META_BYTES - 11)})


def joined(*entries: bytes) -> bytes:
    """What the LIST script returns: the group's entries as one JSON array."""
    return b"[" + b",".join(entries) + b"]"


def test_a_list_groups_metas_by_key():
    bob, alice, bobs_second = encode_entry("bob", {"n": 1}), encode_entry("alice", {}), encode_entry("bob", {"n": 2})
    listed = decode_list(joined(bob, alice, bobs_second))
    assert listed == {"bob": [{"n": 1}, {"n": 2}], "alice": [{}]}
    assert decode_list(b"[]") == {}


def test_a_presence_frame_becomes_a_presence_diff_message():
    joins = [encode_entry("alice", {"n": 1}).decode(), encode_entry("alice", {"n": 2}).decode()]
    frame = [6, "room", joins, [encode_entry("bob", None).decode()]]
    assert diff_message("presence.diff", frame) == {
        "type": "presence.diff",
        "group": "room",
        "joins": {"alice": {"metas": [{"n": 1}, {"n": 2}]}},
        "leaves": {"bob": {"metas": [{}]}},
    }


@pytest.mark.parametrize(
    "frame",
    [
        [6, 3, [], []],
        [6, "room", ['["alice"]'], []],
        [6, "room", {}, []],
        [6, "room", [1], []],
        [6, "room", ["not json"], []],
        [6, "room", ['[["unhashable"],{}]'], []],
    ],
)
def test_a_malformed_frame_raises_value_error(frame):
    with pytest.raises(ValueError):
        diff_message("presence", frame)
