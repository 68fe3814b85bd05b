"""The keys a stream has seen, kept compact in the state between runs.

A key snapshot compares every key the ERP has now with the keys seen before, so
those keys must survive a run. They live in the stream's state (Meltano keeps the
state wherever the project keeps it: its system database, S3, ...), encoded:

- integer keys (most ERPs): sorted, as differences in variable-length bytes
  (`varint-delta`);
- text keys: sorted, each as the length it shares with the one before and the rest
  (`front-coded`);
- composite keys: the sorted JSON list (`json`);

then zlib-compressed and base64 text. Measured for 100,000 keys
(`tap-erp/tests/test_key_sets.py` prints them): consecutive ids under 1 KB, ids with
random gaps of 1-20 about 80 KB, names like `CUST-0000001` about 4 KB, random GUIDs
about 2.5 MB (randomness does not compress: a stream keyed by GUIDs is better served
by tombstones where the ERP has them).
"""

from __future__ import annotations

import base64
import json
import typing as t
import zlib

from tap_erp.errors import TapERPError

INT_ENCODING = "varint-delta"
TEXT_ENCODING = "front-coded"
JSON_ENCODING = "json"


def _varints(numbers: t.Iterable[int]) -> bytes:
    """Non-negative integers as LEB128 bytes."""
    out = bytearray()
    for number in numbers:
        rest = number
        while rest >= 0x80:
            out.append((rest & 0x7F) | 0x80)
            rest >>= 7
        out.append(rest)
    return bytes(out)


def _front_coded(texts: list[str]) -> bytes:
    out = bytearray()
    before = b""
    for text in texts:
        raw = text.encode()
        shared = 0
        limit = min(len(raw), len(before))
        while shared < limit and raw[shared] == before[shared]:
            shared += 1
        out += _varints((shared, len(raw) - shared))
        out += raw[shared:]
        before = raw
    return bytes(out)


def _from_front_coded(data: bytes) -> set[t.Hashable]:
    texts: set[t.Hashable] = set()
    before = b""
    position = 0
    while position < len(data):
        numbers = []
        while len(numbers) < 2:
            number = shift = 0
            while True:
                byte = data[position]
                position += 1
                number |= (byte & 0x7F) << shift
                shift += 7
                if byte < 0x80:
                    break
            numbers.append(number)
        shared, rest = numbers
        raw = before[:shared] + data[position : position + rest]
        position += rest
        texts.add(raw.decode())
        before = raw
    return texts


def _from_varints(data: bytes) -> t.Iterator[int]:
    number = shift = 0
    for byte in data:
        number |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            yield number
            number = shift = 0


def encode_keys(keys: t.Iterable[t.Hashable]) -> dict[str, t.Any]:
    """The keys as a compact JSON-safe object (see the module's description)."""
    keys = list(keys)
    if all(type(k) is int and k >= 0 for k in keys):
        ordered = sorted(t.cast("list[int]", keys))
        deltas = (b - a for a, b in zip([0, *ordered], ordered, strict=False))
        payload, encoding = _varints(deltas), INT_ENCODING
    elif all(type(k) is str for k in keys):
        payload, encoding = _front_coded(sorted(t.cast("list[str]", keys))), TEXT_ENCODING
    else:
        listed = sorted((list(k) if isinstance(k, tuple) else k for k in keys), key=json.dumps)
        payload, encoding = json.dumps(listed, separators=(",", ":")).encode(), JSON_ENCODING
    data = base64.b64encode(zlib.compress(payload, 6)).decode("ascii")
    return {"encoding": encoding, "count": len(keys), "data": data}


def decode_keys(stored: t.Any, where: str) -> set[t.Hashable]:
    """The keys of `encode_keys`' answer; a damaged value is one error naming `where`."""
    try:
        payload = zlib.decompress(base64.b64decode(stored["data"]))
        if stored["encoding"] == INT_ENCODING:
            keys: set[t.Hashable] = set()
            total = 0
            for delta in _from_varints(payload):
                total += delta
                keys.add(total)
        elif stored["encoding"] == TEXT_ENCODING:
            keys = _from_front_coded(payload)
        elif stored["encoding"] == JSON_ENCODING:
            keys = {tuple(k) if isinstance(k, list) else k for k in json.loads(payload)}
        else:
            raise ValueError(stored["encoding"])
    except (KeyError, TypeError, ValueError, IndexError, zlib.error) as exc:
        msg = f"state: {where} holds no readable key set ({type(exc).__name__}); clear the state"
        raise TapERPError(msg) from None
    if len(keys) != stored.get("count"):
        msg = f"state: {where} holds {len(keys)} keys, not the {stored.get('count')} it names"
        raise TapERPError(msg)
    return keys
