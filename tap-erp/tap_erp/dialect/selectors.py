"""Selectors: where a value sits in a decoded JSON body.

``$`` is the body itself; ``value``, ``d.results``, ``result.records`` walk mapping
keys; ``items[0]`` indexes a list; ``['@odata.nextLink']`` (or a key that is found
whole, such as ``@odata.nextLink``) holds dots.
"""

from __future__ import annotations

import re
import typing as t

from tap_erp.errors import ProfileError

_PART = re.compile(r"\.?(?:\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]|\[(\d+)\]|([^.\[\]]+))")

NOTHING: t.Any = object()


class Selector:
    """A compiled selector: `find(body)` returns the value or `NOTHING`."""

    def __init__(self, text: str, where: str = "selector") -> None:
        """Parse `text`; a malformed selector is a profile error naming `where`."""
        self.text = text
        body = text.strip()
        if body.startswith("$"):
            body = body[1:]
        self.parts: list[str | int] = []
        pos = 0
        while pos < len(body):
            match = _PART.match(body, pos)
            if match is None or match.end() == pos:
                msg = f"'{where}': cannot read selector {text!r} at {body[pos:]!r}"
                raise ProfileError(msg)
            quoted1, quoted2, index, plain = match.groups()
            if index is not None:
                self.parts.append(int(index))
            else:
                self.parts.append(quoted1 if quoted1 is not None else (quoted2 or plain or ""))
            pos = match.end()

    @property
    def field_path(self) -> str:
        """The dotted field path it reads, list indexes left out (`addresses.city`)."""
        return ".".join(p for p in self.parts if isinstance(p, str))

    @property
    def head(self) -> str | None:
        """The top-level key it reads."""
        return next((p for p in self.parts if isinstance(p, str)), None)

    @property
    def is_root(self) -> bool:
        """Whether the selector is the body itself."""
        return not self.parts

    def find(self, body: t.Any) -> t.Any:
        """The selected value, or `NOTHING` when the path does not exist."""
        if isinstance(body, dict) and self.text in body:
            return body[self.text]
        node = body
        for part in self.parts:
            if isinstance(part, int):
                if not isinstance(node, list) or part >= len(node):
                    return NOTHING
                node = node[part]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                return NOTHING
        return node

    def describe_miss(self, body: t.Any) -> str:
        """Why the selector found nothing in `body` (for one clear error line)."""
        if isinstance(body, dict):
            keys = ", ".join(sorted(str(k) for k in body)[:12]) or "none"
            return f"selector {self.text!r} matched nothing; the response has keys: {keys}"
        if isinstance(body, list):
            return f"selector {self.text!r} matched nothing; the response is a list (use '$')"
        return f"selector {self.text!r} matched nothing; the response is {type(body).__name__}"
