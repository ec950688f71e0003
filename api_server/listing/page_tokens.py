"""Opaque, signed keyset cursors handed out as ``next_page_token``.

A token is ``base64url(payload) + "." + base64url(mac)`` (no padding), where ``payload`` is
compact JSON and ``mac`` the first 16 bytes of HMAC-SHA256(secret, payload). Signing keeps a
client from steering the keyset predicate; the query fingerprint inside keeps a token from
being replayed against a different filter, sort or scope, where it would skip or repeat rows.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from domain.errors import InvalidArgument

from .filters import Predicate
from .sorting import Sort

_MAC_BYTES = 16
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_NOT_OURS = "page_token: not a token this server issued"
_PAYLOAD_KEYS = frozenset({"k", "d", "v", "t", "i", "f"})

CursorValue = str | int | float | bool | None


@dataclass(frozen=True)
class Cursor:
    """Where the previous page ended, and which query it belongs to.

    ``last_sort_value`` is JSON-able; a datetime is kept as int microseconds since the epoch
    with ``value_is_timestamp`` set, so the SQL layer can turn it back into a datetime.
    """

    sort_key: str
    descending: bool
    last_sort_value: CursorValue
    last_id: str
    query_fingerprint: str
    value_is_timestamp: bool = False


def encode_page_token(cursor: Cursor, secret: bytes) -> str:
    """Serialize and sign ``cursor`` into a URL-safe token."""
    payload = json.dumps(
        {
            "k": cursor.sort_key,
            "d": cursor.descending,
            "v": cursor.last_sort_value,
            "t": cursor.value_is_timestamp,
            "i": cursor.last_id,
            "f": cursor.query_fingerprint,
        },
        separators=(",", ":"),
        sort_keys=True,
        allow_nan=False,
    ).encode()
    return _b64encode(payload) + "." + _b64encode(_mac(payload, secret))


def decode_page_token(token: str, secret: bytes) -> Cursor:
    """Verify and parse a token from :func:`encode_page_token`.

    Anything not issued by this server with this ``secret`` raises ``InvalidArgument``.
    """
    parts = token.split(".")
    if len(parts) != 2:
        raise InvalidArgument(_NOT_OURS)
    payload = _b64decode(parts[0])
    mac = _b64decode(parts[1])
    if not hmac.compare_digest(mac, _mac(payload, secret)):
        raise InvalidArgument(_NOT_OURS)
    try:
        data = json.loads(payload)
    except ValueError:
        raise InvalidArgument(_NOT_OURS) from None
    if not isinstance(data, dict) or set(data) != _PAYLOAD_KEYS:
        raise InvalidArgument(_NOT_OURS)
    value = data["v"]
    if not (
        isinstance(data["k"], str)
        and isinstance(data["d"], bool)
        and isinstance(data["t"], bool)
        and isinstance(data["i"], str)
        and isinstance(data["f"], str)
        and (value is None or isinstance(value, str | int | float | bool))
        and (not data["t"] or (isinstance(value, int) and not isinstance(value, bool)))
    ):
        raise InvalidArgument(_NOT_OURS)
    return Cursor(
        sort_key=data["k"],
        descending=data["d"],
        last_sort_value=value,
        last_id=data["i"],
        query_fingerprint=data["f"],
        value_is_timestamp=data["t"],
    )


def query_fingerprint(
    predicates: Iterable[Predicate], sort: Sort, scope: Mapping[str, object]
) -> str:
    """A short digest of everything that decides which rows a listing walks, in which order.

    Predicates are AND-ed, so their order does not matter and is canonicalized away.
    """
    canonical_predicates = sorted(
        json.dumps([p.key, p.op.value, _canonical(p.value)], sort_keys=True, default=str)
        for p in predicates
    )
    document = {
        "p": canonical_predicates,
        "s": [sort.key, sort.descending],
        "scope": {str(k): _canonical(v) for k, v in scope.items()},
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _canonical(value: object) -> object:
    if isinstance(value, datetime):
        return {"ts": value.isoformat()}
    if isinstance(value, tuple | list):
        return [_canonical(v) for v in value]
    return value


def _mac(payload: bytes, secret: bytes) -> bytes:
    return hmac.new(secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not _B64URL.fullmatch(text):
        raise InvalidArgument(_NOT_OURS)
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidArgument(_NOT_OURS) from None
    # Unused low bits of the last character would otherwise give several spellings of one token.
    if _b64encode(data) != text:
        raise InvalidArgument(_NOT_OURS)
    return data
