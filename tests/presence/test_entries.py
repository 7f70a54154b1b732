"""Presence entries and events, pure: what is stored, what a list returns, what members receive. No Redis."""

from __future__ import annotations

import json

import msgpack
import pytest

from channels_fanout.presence.entries import MAX_KEY_BYTES, MAX_META_BYTES, decode_list, diff_message, encode_entry


def test_an_entry_is_the_key_and_the_meta_as_json_text():
    entry = encode_entry("alice", {"device": "phone", "since": 1.0, "tags": []})
    key, meta = msgpack.unpackb(entry, raw=False)
    assert key == "alice" and json.loads(meta) == {"device": "phone", "since": 1.0, "tags": []}


def test_no_meta_is_an_empty_dict():
    assert msgpack.unpackb(encode_entry("bob", None), raw=False) == ["bob", "{}"]


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


def test_a_list_groups_metas_by_key_with_keys_sorted():
    flat = [
        b"specific.a!1", encode_entry("bob", {"n": 1}),
        b"specific.a!2", encode_entry("alice", {}),
        b"specific.b!3", encode_entry("bob", {"n": 2}),
    ]  # fmt: skip
    listed = decode_list(flat)
    assert list(listed) == ["alice", "bob"]
    assert listed["alice"] == [{}] and sorted(m["n"] for m in listed["bob"]) == [1, 2]


def test_a_presence_frame_becomes_a_presence_diff_message():
    frame = [6, "room", ["alice", '{"n":1}', "alice", '{"n":2}'], ["bob", "{}"]]
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
        [6, "room", ["alice"], []],
        [6, "room", {}, []],
        [6, "room", [1, "{}"], []],
        [6, "room", ["alice", "not json"], []],
    ],
)
def test_a_malformed_frame_raises_value_error(frame):
    with pytest.raises(ValueError):
        diff_message("presence", frame)
