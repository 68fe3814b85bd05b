"""RECORDs are buffered; every other message writes them out first, in order."""

from __future__ import annotations

import io
import json
import sys

from singer_sdk.singerlib import RecordMessage, StateMessage
from tap_erp import writer as writer_mod


class FakeStdout:
    def __init__(self):
        self.buffer = io.BytesIO()

    def flush(self):
        pass


def lines(out: FakeStdout) -> list[dict]:
    return [json.loads(line) for line in out.buffer.getvalue().splitlines()]


def test_records_wait_for_a_state_or_a_full_buffer(monkeypatch):
    out = FakeStdout()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(writer_mod, "FLUSH_BYTES", 10_000)
    w = writer_mod.BufferedMsgSpecWriter()
    for i in range(3):
        w.write_message(RecordMessage(stream="s", record={"id": i}))
    assert out.buffer.getvalue() == b""  # buffered
    w.write_message(StateMessage(value={"bookmarks": {"s": {"id": 2}}}))
    assert [m["type"] for m in lines(out)] == ["RECORD"] * 3 + ["STATE"]
    for i in range(3, 400):
        w.write_message(RecordMessage(stream="s", record={"id": i, "pad": "x" * 40}))
    written = lines(out)
    assert 4 < len(written) < 401  # full buffers went out without a STATE
    w.flush()
    assert [m["record"]["id"] for m in lines(out) if m["type"] == "RECORD"] == list(range(400))
