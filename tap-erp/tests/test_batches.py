"""Batch files: written only for their owner; files of killed runs are swept."""

from __future__ import annotations

import os
import time

import pytest
from singer_sdk.helpers._batch import BatchConfig
from tap_erp.batches import sweep_stale, wait_until_taken, write_batches
from tap_erp.errors import TapERPError


def config(folder, size=2, compression="none"):
    return BatchConfig.from_dict(
        {
            "encoding": {"format": "jsonl", "compression": compression},
            "storage": {"root": folder.as_uri()},
            "batch_size": size,
        }
    )


def test_files_of_batch_size_and_the_bookmark_follows(tmp_path):
    seen = []
    records = [{"id": i} for i in range(5)]
    out = list(write_batches(records, lambda r: r, config(tmp_path), "s", after_each=seen.append))
    assert len(out) == 3
    assert seen == records
    paths = sorted(tmp_path.glob("s-*.jsonl"))
    assert sum(len(p.read_bytes().splitlines()) for p in paths) == 5
    assert all(p.stat().st_mode & 0o077 == 0 for p in paths)


def test_filtered_records_still_move_the_bookmark(tmp_path):
    seen = []
    records = [{"id": i} for i in range(4)]
    keep_even = lambda r: r if r["id"] % 2 == 0 else None  # noqa: E731
    out = list(
        write_batches(records, keep_even, config(tmp_path, size=10), "s", after_each=seen.append)
    )
    assert len(out) == 1
    assert seen == records


def test_unsupported_encoding_and_storage_are_clear(tmp_path):
    with pytest.raises(TapERPError, match="jsonl"):
        list(
            write_batches(
                [{}], lambda r: r, config(tmp_path, compression="zstd"), "s", after_each=print
            )
        )
    bad = BatchConfig.from_dict(
        {"encoding": {"format": "jsonl"}, "storage": {"root": "s3://bucket/x"}}
    )
    with pytest.raises(TapERPError, match="local folder"):
        list(write_batches([{}], lambda r: r, bad, "s", after_each=print))


def test_waiting_for_a_file_nobody_takes_fails(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_text("{}\n")
    with pytest.raises(TapERPError, match="may not support BATCH"):
        wait_until_taken([path.as_uri()], 0.2)
    path.unlink()
    wait_until_taken([path.as_uri()], 0.2)


def test_sweep_removes_only_old_files(tmp_path):
    old, new = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    old.write_text("{}\n")
    new.write_text("{}\n")
    past = time.time() - 7200
    os.utime(old, (past, past))
    assert sweep_stale(tmp_path, 3600) == 1
    assert not old.exists()
    assert new.exists()
