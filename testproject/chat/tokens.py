"""API tokens, pure: their format, a new one, and the two parts the database keeps (the selector and the digest).

A token is 76 hex digits: a selector of 12, public, that finds the token's row without the secret taking part
in the query, then 256 random bits. The database keeps the selector and the SHA-256 of the whole token; the check
compares digests with ``hmac.compare_digest`` (models.ApiToken.check_token), so its timing tells nothing about how
much of a guess was right. A fast hash is enough here, unlike for passwords: a slow hash makes it costly to try
the likely guesses of a stolen digest, and a random token has none (2**256 candidates; 2**112 for the tokens of
40 hex digits issued before hashing, whose first 12 became their selector). Unkeyed, so that rotating SECRET_KEY
(which ends sessions) does not revoke every token.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import TypeGuard

SELECTOR_LENGTH = 12
SECRET_BYTES = 32
# 76 digits since tokens are hashed; 40 before (migration 0003 hashed those in place, so they still work).
FORMAT = re.compile(r"[0-9a-f]{76}|[0-9a-f]{40}")


def new_token() -> str:
    return secrets.token_hex(SELECTOR_LENGTH // 2 + SECRET_BYTES)


def is_well_formed(token: object) -> TypeGuard[str]:
    """Whether ``token`` could be a token: checked before hashing, so that no input can make hashing fail."""
    return isinstance(token, str) and FORMAT.fullmatch(token) is not None


def selector(token: str) -> str:
    return token[:SELECTOR_LENGTH]


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
