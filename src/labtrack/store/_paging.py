"""Opaque page tokens: a base64 offset, validated on the way back in."""

from __future__ import annotations

import base64
import json

from labtrack.errors import InvalidParameterValue


def encode_offset(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_offset(token: str | None) -> int:
    """The offset a token stands for; 0 for no token. A bad token is the caller's error."""
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode() + b"==="))
        offset = data["offset"]
    except (ValueError, TypeError, KeyError, UnicodeError) as exc:
        raise InvalidParameterValue(f"Invalid page token {token!r}: {exc}") from None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidParameterValue(f"Invalid page token {token!r}: bad offset")
    return offset
