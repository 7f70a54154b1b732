"""Telling refusals from outages, on the replies of the Redis versions the tests do not run (7.2+ wordings).

The replies of the Redis the tests run (7.0) are covered end to end in tests/security.
"""

from __future__ import annotations

import ssl

import pytest
from redis.exceptions import AuthenticationError, ConnectionError, NoPermissionError, ResponseError, TimeoutError

from channels_fanout import ChannelLayerRefused
from channels_fanout.transport.refusals import describe_command, refusal, refused_command


@pytest.mark.parametrize(
    ("reply", "target", "permission"),
    [
        ("User app has no permissions to run the 'publish' command", None, "+publish"),
        ("this user has no permissions to run the 'client|setinfo' command", None, "+client|setinfo"),
        ("No permissions to access a channel", b"app:group:{room}", "&app:*"),
        ("this user has no permissions to access one of the channels used as arguments", b"app:x", "&app:*"),
        ("No permissions to access a key", "app:queue:jobs", "~app:*"),
    ],
)
def test_a_noperm_reply_names_the_missing_permission(reply, target, permission):
    refused = refusal(NoPermissionError(reply, status_code="NOPERM"), "Redis at r", "PUBLISH 'x'", target)
    assert isinstance(refused, ChannelLayerRefused) and refused.permission == permission
    assert str(refused).startswith(f"Redis at r refused PUBLISH 'x': NOPERM {reply}; the ACL user needs {permission}")


def test_a_command_refused_inside_a_script_is_a_refusal():
    reply = "The user executing the script can't run this command or subcommand script: 1a2b, on @user_script:3."
    attempt = describe_command(("EVALSHA", "1a2b", 1, "k"))
    refused = refusal(ResponseError(reply, status_code="ERR"), "Redis at r", *attempt)
    assert refused is not None and refused.permission is None  # Script.run names the script's commands
    assert "refused EVALSHA of a Lua script on 'k': ERR The user executing the script" in str(refused)


def test_outages_and_other_errors_are_not_refusals():
    for error in (
        ConnectionError("Connection reset by peer"), TimeoutError("Timeout"), ResponseError("WRONGTYPE"),
        ssl.SSLEOFError(8, "EOF occurred in violation of protocol"),
    ):  # fmt: skip
        assert refusal(error, "Redis at r", "PUBLISH") is None


def test_a_refusal_wrapped_by_the_cluster_client_is_found_among_the_causes():
    try:
        try:
            raise AuthenticationError("invalid username-password pair", status_code="WRONGPASS")
        except AuthenticationError as exc:
            raise RuntimeError("Redis Cluster cannot be connected") from exc
    except RuntimeError as wrapped:
        refused = refusal(wrapped, "Redis cluster at h:1", "the connection")
    assert refused is not None and refused.reason == "credentials"
    assert "WRONGPASS invalid username-password pair" in str(refused)


def test_refused_command_reads_the_command_from_either_wording():
    assert refused_command(NoPermissionError("User u has no permissions to run the 'ping' command")) == "ping"
    assert refused_command(NoPermissionError("No permissions to access a channel")) is None
