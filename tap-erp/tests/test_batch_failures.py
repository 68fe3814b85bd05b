"""File-system failures in the batch folder are one line naming the path and the
setting; batch files of a failed run never stay behind."""

from __future__ import annotations

import datetime as dt
import errno
import os
import subprocess
import sys
import threading
import uuid

import pytest
from singer_sdk.helpers._batch import BatchConfig
from tap_erp import batches
from tap_erp.batches import remove_untaken, sweep_stale, write_batches
from tap_erp.errors import TapERPError

PAGES = [[{"id": i} for i in range(5)], [{"id": i} for i in range(5, 10)]]


def config(folder, size=3):
    return BatchConfig.from_dict(
        {
            "encoding": {"format": "jsonl", "compression": "none"},
            "storage": {"root": folder.as_uri()},
            "batch_size": size,
        }
    )


class FailingHandle:
    """A file handle whose writes fail with `code`, as a full disk does."""

    def __init__(self, code: int) -> None:
        self.code = code

    def write(self, data: bytes) -> int:
        raise OSError(self.code, os.strerror(self.code))

    def close(self) -> None:
        return None


def failing_create(code: int):
    def create(path, *, gz):
        path.touch(mode=0o600)
        batches.WRITTEN.add(path)
        return FailingHandle(code)

    return create


@pytest.mark.parametrize(
    ("code", "reason", "remedy"),
    [
        (errno.ENOSPC, "No space left on device", "the disk is full"),
        (errno.EDQUOT, "quota", "quota is used up"),
        (errno.EACCES, "Permission denied", "no permission to write there"),
        (errno.EROFS, "Read-only file system", "read-only"),
        (errno.EIO, "Input/output error", "check the folder"),
    ],
)
def test_a_failing_write_is_one_line_and_leaves_no_file(
    tmp_path, monkeypatch, code, reason, remedy
):
    monkeypatch.setattr(batches, "_create", failing_create(code))
    with pytest.raises(TapERPError) as info:
        list(write_batches(PAGES, lambda r: r, config(tmp_path), "orders", after_rows=list))
    line = str(info.value)
    assert "\n" not in line
    assert f"cannot write batch file {tmp_path}/orders-" in line
    assert reason in line and remedy in line
    assert "batch_config.storage.root" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("make_root", "reason"),
    [
        (lambda base: (base / "file").write_text("x") and base / "file" / "batches", "directory"),
        (lambda base: (base / "file").write_text("x") and base / "file", "exists"),
    ],
    ids=["folder under a file", "root is a file"],
)
def test_a_batch_root_that_cannot_be_a_folder_is_one_line(tmp_path, make_root, reason):
    root = make_root(tmp_path)
    with pytest.raises(TapERPError) as info:
        list(write_batches(PAGES, lambda r: r, config(root), "orders", after_rows=list))
    line = str(info.value)
    assert f"cannot create folder {root}" in line
    assert "batch_config.storage.root" in line
    assert reason in line.lower()


def test_a_folder_removed_during_the_run_is_one_line(tmp_path):
    root = tmp_path / "batches"
    gen = write_batches(PAGES, lambda r: r, config(root, size=2), "orders", after_rows=list)
    next(gen)
    for path in root.iterdir():
        path.unlink()
    root.rmdir()
    with pytest.raises(TapERPError, match="the folder is missing") as info:
        list(gen)
    assert str(root) in str(info.value)


def test_files_the_loader_did_not_take_are_removed_at_the_end(tmp_path):
    remove_untaken()
    out = list(write_batches(PAGES, lambda r: r, config(tmp_path), "orders", after_rows=list))
    taken = batches.local_path_of(out[0][1][0])
    taken.unlink()  # the loader read this one
    assert remove_untaken() == len(out) - 1
    assert list(tmp_path.iterdir()) == []


def test_a_loader_still_reading_gets_the_grace_to_take_its_file(tmp_path):
    remove_untaken()
    (_, (url,)), *_ = write_batches(
        PAGES, lambda r: r, config(tmp_path, size=100), "orders", after_rows=list
    )
    path = batches.local_path_of(url)
    loader = threading.Thread(target=path.unlink)  # takes the file while the run ends
    loader.start()
    assert remove_untaken(grace=30) == 0
    loader.join()
    assert list(tmp_path.iterdir()) == []


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


HOST = batches.writer_tag().rsplit("-", 1)[0]


@pytest.mark.parametrize(
    ("host", "writer", "swept"),
    [
        pytest.param(HOST, dead_pid, True, id="writer gone"),
        pytest.param(HOST, os.getppid, False, id="writer running"),
        pytest.param(HOST, os.getpid, False, id="this process"),
        pytest.param("other.host", dead_pid, False, id="writer on another host"),
    ],
)
def test_the_next_start_removes_files_of_runs_that_died(tmp_path, host, writer, swept):
    path = tmp_path / f"orders-{host}-{writer()}-{uuid.uuid4().hex}.jsonl"
    path.write_text("{}\n")
    assert sweep_stale(tmp_path, 3600) == int(swept)
    assert path.exists() is not swept


def test_a_full_disk_stops_the_sync_with_the_line_and_no_file(run_tap, fake, tmp_path, monkeypatch):
    """Through the tap: the sync stops with the one line; no file, no STATE past it."""
    fake.add("customers", 1, dt.datetime(2025, 1, 1, tzinfo=dt.UTC), CardName="c1")
    monkeypatch.setattr(batches, "_create", failing_create(errno.ENOSPC))
    batch_config = {
        "encoding": {"format": "jsonl", "compression": "none"},
        "storage": {"root": tmp_path.as_uri()},
        "batch_size": 10,
    }
    with pytest.raises(TapERPError, match="No space left on device; the disk is full"):
        run_tap(batch_config=batch_config)
    assert list(tmp_path.iterdir()) == []
