"""Batch files: written only for their owner; files of killed runs are swept."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

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


def file_ids(out) -> list[int]:
    return [
        json.loads(line)["id"]
        for _, manifest in out
        for line in Path(manifest[0][len("file://") :]).read_text().splitlines()
    ]


def test_files_of_batch_size_and_the_bookmark_follows(tmp_path):
    seen = []
    pages = [[{"id": i} for i in range(3)], [{"id": i} for i in range(3, 5)]]
    out = list(write_batches(pages, lambda r: r, config(tmp_path), "s", after_rows=seen.extend))
    assert len(out) == 3
    assert seen == pages[0] + pages[1]
    paths = sorted(tmp_path.glob("s-*.jsonl"))
    assert sum(len(p.read_bytes().splitlines()) for p in paths) == 5
    assert all(p.stat().st_mode & 0o077 == 0 for p in paths)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 100])
def test_at_each_file_the_bookmark_covers_exactly_its_records(tmp_path, size):
    """Files end inside pages; rows reach after_rows only once their file is written."""
    seen: list[dict] = []
    keep = lambda r: r if r["id"] % 3 else None  # noqa: E731
    pages = [[{"id": i} for i in range(start, start + 5)] for start in range(0, 40, 5)]
    gen = write_batches(pages, keep, config(tmp_path, size=size), "s", after_rows=seen.extend)
    done = []
    for item in gen:
        done.append(item)
        written = file_ids(done)
        assert len(written) == min(size * len(done), 26)
        assert [r["id"] for r in seen if keep(r)] == written
        last = [r["id"] for r in seen].index(written[-1])
        assert not any(keep(r) for r in seen[last + 1 :])  # beyond it only filtered rows
    assert [r["id"] for r in seen] == list(range(40))
    assert file_ids(done) == [i for i in range(40) if i % 3]


def test_filtered_records_still_move_the_bookmark(tmp_path):
    seen = []
    records = [{"id": i} for i in range(4)]
    keep_even = lambda r: r if r["id"] % 2 == 0 else None  # noqa: E731
    out = list(
        write_batches([records], keep_even, config(tmp_path, size=10), "s", after_rows=seen.extend)
    )
    assert len(out) == 1
    assert seen == records


def test_unsupported_encoding_and_storage_are_clear(tmp_path):
    with pytest.raises(TapERPError, match="jsonl"):
        list(
            write_batches(
                [[{}]], lambda r: r, config(tmp_path, compression="zstd"), "s", after_rows=print
            )
        )
    bad = BatchConfig.from_dict(
        {"encoding": {"format": "jsonl"}, "storage": {"root": "s3://bucket/x"}}
    )
    with pytest.raises(TapERPError, match="local folder"):
        list(write_batches([[{}]], lambda r: r, bad, "s", after_rows=print))


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


@pytest.mark.parametrize("seed", range(20))
def test_newest_tie_group_over_any_split_is_the_last_group(seed):
    """Rows handed on in parts of any size leave exactly the newest tie group to settle."""
    import random
    from types import SimpleNamespace

    from tap_erp.sdk_internals import NewestTieGroup

    rnd = random.Random(seed)
    values = sorted(rnd.choice("abcd") for _ in range(rnd.randint(1, 30)))
    rows = [{"ts": v, "id": i} for i, v in enumerate(values)]
    settled: list[dict] = []
    stream = SimpleNamespace(
        replication_key="ts",
        _increment_stream_state=lambda record, context: settled.append(record),
    )
    group = NewestTieGroup(stream, None)  # type: ignore[arg-type]
    start = 0
    while start < len(rows):
        size = rnd.randint(0, 7)
        group.add_rows(rows[start : start + size])
        start += size
    group.settle()
    assert settled == [r for r in rows if r["ts"] == values[-1]]
