"""A big scan shared with forked workers gives exactly what one process gives."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from social_publisher.config import load_settings
from social_publisher.queue import MemoryScanCache, ScanOptions, parallel, scan_queue
from social_publisher.queue import scanner as scanner_module
from social_publisher.services import scan_cache as scan_cache_module
from social_publisher.services.ingest import check_queue
from social_publisher.store import Database
from social_publisher.store import ScanCache as ScanCacheRow

from .conftest import GOOD, NOW, jpeg_bytes

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="workers are forked on Linux only"
)

OPTIONS = ScanOptions(default_author="Phòng VHTT", default_share_with=("tat-ca",))
NO_TITLE = GOOD.replace("Tiêu đề: Ngày Chuyển đổi số quốc gia 10/10\n", "")
DRAFT = GOOD.replace("Người duyệt: Võ Thanh Hùng\n", "")


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of three folders: a small queue is shared as a big one would be."""
    monkeypatch.setattr(scanner_module, "PARALLEL_CHUNK", 3)
    assert threading.active_count() == 1, "a thread left running would keep scans in-process"


def mixed_queue(write_post: Callable[..., Path]) -> None:
    """Good posts, drafts, errors, a locked file, a crash and a bad photo, interleaved."""
    photo = jpeg_bytes()
    for n in range(24):
        kind = n % 6
        text = {1: NO_TITLE, 3: DRAFT}.get(kind, GOOD.replace("10/10", f"số {n}"))
        images: dict[str, bytes | None] = {"anh-1.jpg": photo + bytes([n])}
        if kind == 4:
            images["hong.jpg"] = b"\xff\xd8\xff\xe0 not a photo"
        name = {2: f"khoa {n:02d}", 5: f"bom {n:02d}"}.get(kind, f"bai {n:02d} – chuyển đổi số")
        write_post(name, text, images=images)


@pytest.fixture
def troubles(monkeypatch: pytest.MonkeyPatch) -> None:
    """A text file another program holds (not cached), and a folder that crashes the reader."""
    real_read, real_interpret = scanner_module._read_file, scanner_module.interpret

    def locked(path: str) -> bytes:
        if "/khoa " in path and path.endswith(".txt"):
            raise PermissionError(13, "Permission denied")
        return real_read(path)

    def explode(text: str, file: str, tz: object) -> object:
        if file.startswith("bom "):
            raise RuntimeError("hỏng")
        return real_interpret(text, file, tz)  # type: ignore[arg-type]

    monkeypatch.setattr(scanner_module, "_read_file", locked)
    monkeypatch.setattr(scanner_module, "interpret", explode)


def image_check() -> Callable[[str, bytes], object]:
    from social_publisher.queue import BytesImageCheck
    from social_publisher.services.ingest import default_image_check

    check, _ = default_image_check(load_settings({}, dotenv_path=None))
    assert isinstance(check, BytesImageCheck)
    return check


def entries(cache: MemoryScanCache) -> dict[str, tuple[str, str, object]]:
    def parsed(result: object) -> object:
        return json.loads(result) if isinstance(result, str) else result

    return {k: (e.signature, e.content_hash, parsed(e.result)) for k, e in cache.entries.items()}


@pytest.mark.usefixtures("troubles")
def test_shared_scan_equals_one_process(queue: Path, write_post: Callable[..., Path]) -> None:
    mixed_queue(write_post)
    check = image_check()
    alone_cache, shared_cache = MemoryScanCache(), MemoryScanCache()
    alone = scan_queue(queue, OPTIONS, cache=alone_cache, image_check=check, workers=1)
    shared = scan_queue(queue, OPTIONS, cache=shared_cache, image_check=check, workers=2)
    assert (alone.workers, shared.workers) == (1, 2)
    assert shared.posts == alone.posts
    assert shared.read == alone.read and len(alone.read) == 20  # the four crashes: not read
    assert shared.keys == alone.keys
    assert entries(shared_cache) == entries(alone_cache)
    assert len(alone_cache.entries) == 16  # neither the locked files nor the crashes
    kinds = {p.folder: p for p in shared.posts}
    assert kinds["khoa 02"].cacheable is False
    assert "RuntimeError: hỏng" in kinds["bom 05"].errors[0].message
    assert any("hong.jpg" in p.file for p in kinds["bai 04 – chuyển đổi số"].errors)

    # a warm scan with some folders changed: hits and reads mixed across the workers
    for n in (0, 7, 13, 19):
        (queue / f"bai {n:02d} – chuyển đổi số" / "anh-2.jpg").write_bytes(jpeg_bytes())
    alone = scan_queue(queue, OPTIONS, cache=alone_cache, image_check=check, workers=1)
    shared = scan_queue(queue, OPTIONS, cache=shared_cache, image_check=check, workers=3)
    assert shared.workers == 3
    assert shared.posts == alone.posts
    assert (
        shared.read
        == alone.read
        == [
            *(f"bai {n:02d} – chuyển đổi số" for n in (0, 7, 13, 19)),
            *sorted(f"khoa {n:02d}" for n in (2, 8, 14, 20)),
        ]
    )
    assert entries(shared_cache) == entries(alone_cache)


@pytest.mark.usefixtures("troubles")
def test_a_crash_in_a_worker_is_logged_here(
    queue: Path, write_post: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    mixed_queue(write_post)
    with caplog.at_level(logging.DEBUG, logger="social_publisher.queue.scanner"):
        scan = scan_queue(queue, OPTIONS, image_check=lambda p: None, workers=2)
    assert scan.workers == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sorted(warnings) == [
        f"queue folder 'bom {n:02d}' could not be read: RuntimeError: hỏng" for n in (5, 11, 17, 23)
    ]
    # every traceback reaches the log, whichever process read the folder
    assert caplog.text.count(", in explode\n") == 4


def test_a_worker_that_dies_leaves_its_chunk_to_this_process(
    queue: Path, write_post: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    for n in range(12):
        write_post(f"bai {n:02d}", images={"1.jpg": None})
    parent = os.getpid()
    died = multiprocessing.get_context("fork").Event()

    def deadly(path: Path) -> None:
        """A worker dies on the first photo it checks; this process, on its first photo,
        waits for that, so a worker always has taken a chunk it will never send."""
        if os.getpid() != parent:
            died.set()
            os._exit(7)
        if not died.is_set():
            assert died.wait(10)

    alone = scan_queue(queue, OPTIONS, image_check=lambda p: None, workers=1)
    with caplog.at_level(logging.WARNING, logger="social_publisher.queue.parallel"):
        shared = scan_queue(queue, OPTIONS, image_check=deadly, workers=2)
    assert shared.posts == alone.posts and shared.read == alone.read
    assert any("exit codes [7]" in r.getMessage() for r in caplog.records)
    assert multiprocessing.active_children() == []


def test_no_workers_when_forking_is_unsafe_or_not_worth_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(parallel, "usable_cpus", lambda: 4)
    monkeypatch.setattr(parallel, "busy_elsewhere", lambda: 0)
    assert parallel.worker_count(1000, 400, 50) == 4
    assert parallel.worker_count(120, 100, 50) == 3  # no more processes than chunks
    assert parallel.worker_count(399, 400, 50) == 1
    monkeypatch.setattr(parallel, "busy_elsewhere", lambda: 1)  # another program runs
    assert parallel.worker_count(1000, 400, 50) == 3
    monkeypatch.setattr(parallel, "busy_elsewhere", lambda: 5)
    assert parallel.worker_count(1000, 400, 50) == 1
    monkeypatch.setattr(parallel, "busy_elsewhere", lambda: 0)
    monkeypatch.setattr(parallel, "usable_cpus", lambda: 1)
    assert parallel.worker_count(1000, 400, 50) == 1
    monkeypatch.setattr(parallel, "usable_cpus", lambda: 4)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert parallel.worker_count(1000, 400, 50) == 1
    finally:
        stop.set()
        thread.join()
    monkeypatch.setattr(parallel.sys, "platform", "win32")
    assert parallel.worker_count(1000, 400, 50) == 1


def test_other_running_processes_are_read_from_the_kernel(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert parallel.busy_elsewhere() >= 0  # this machine's real /proc/loadavg
    fake = tmp_path / "loadavg"
    real_open = open

    def fake_open(path: str, *args: Any, **kwargs: Any) -> Any:
        return real_open(fake if path == "/proc/loadavg" else path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", fake_open)
    fake.write_text("1.83 1.11 0.77 3/138 19337\n")
    assert parallel.busy_elsewhere() == 2
    fake.write_text("0.00 0.01 0.05 1/120 4242\n")
    assert parallel.busy_elsewhere() == 0
    fake.write_text("garbage\n")
    assert parallel.busy_elsewhere() == 0


def test_a_scan_asked_for_workers_stays_in_process_when_forking_is_unsafe(
    queue: Path, write_post: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_post("a")
    monkeypatch.setattr(parallel, "can_fork", lambda: False)
    assert scan_queue(queue, OPTIONS, workers=4).workers == 1


def test_workers_that_cannot_start_leave_the_scan_to_this_process(
    queue: Path, write_post: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(5):
        write_post(f"bai {n}")

    def no_fork(*args: object, **kwargs: object) -> object:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(parallel, "share", no_fork)
    scan = scan_queue(queue, OPTIONS, workers=2)
    assert scan.workers == 1 and [p.folder for p in scan.posts] == [f"bai {n}" for n in range(5)]


def test_share_covers_every_chunk_in_order() -> None:
    def here(start: int, stop: int) -> tuple[str, int, int]:
        return "here", start, stop

    def settle(start: int, stop: int, value: tuple[int, int, int]) -> tuple[str, int, int]:
        assert value == (start, stop, os.getppid() and value[2])
        return "worker", start, stop

    results = parallel.share(
        100, 7, 3, here=here, work=lambda a, b: (a, b, os.getpid()), settle=settle
    )
    assert [(start, stop) for _, start, stop in results] == [
        (s, min(s + 7, 100)) for s in range(0, 100, 7)
    ]
    assert {where for where, _, _ in results} <= {"here", "worker"}
    assert multiprocessing.active_children() == []


def test_check_spreads_a_big_cold_queue_and_writes_the_cache_as_it_goes(
    queue: Path,
    write_post: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for n in range(9):
        write_post(f"bai {n}", images={"1.jpg": None})
    monkeypatch.setattr(scanner_module, "PARALLEL_MIN", 5)
    monkeypatch.setattr(parallel, "usable_cpus", lambda: 2)  # whatever runs beside the test
    monkeypatch.setattr(parallel, "busy_elsewhere", lambda: 0)
    monkeypatch.setattr(scan_cache_module, "WRITE_BATCH", 2)
    shared: list[int] = []
    real_share = parallel.share

    def spy(*args: object, **kwargs: object) -> object:
        shared.append(1)
        return real_share(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(parallel, "share", spy)
    flushes: list[int] = []
    real_flush = scan_cache_module.DbScanCache.flush

    def flaky_flush(self: scan_cache_module.DbScanCache, session: object, now: object) -> None:
        flushes.append(len(self.dirty))
        if len(flushes) == 2:  # a busy database once: the rest waits for the last write
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        real_flush(self, session, now)  # type: ignore[arg-type]

    monkeypatch.setattr(scan_cache_module.DbScanCache, "flush", flaky_flush)
    settings = load_settings(
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'sp.db'}", "QUEUE_DIR": str(queue)},
        dotenv_path=None,
    )
    db = Database(settings.database_url)
    db.upgrade()
    with caplog.at_level(logging.WARNING, logger="social_publisher.ingest"):
        report = check_queue(db, settings, now=NOW)
    assert shared == [1] and len(report.read) == 9 and report.workers == 2
    assert [p.post.folder for p in report.posts] == [f"bai {n}" for n in range(9)]
    assert flushes[:2] == [2, 2] and len(flushes) == 3  # one batch, a failed one, the rest
    assert "scan cache not saved during the scan: OperationalError" in caplog.text
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(ScanCacheRow)) == 9
    again = check_queue(db, settings, now=NOW)
    assert again.read == [] and shared == [1]  # warm: nothing to read, no workers
    db.dispose()


def test_a_worker_killed_holding_the_chunk_lock_does_not_hang_the_scan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parent = os.getpid()
    real_take = parallel._take
    locked = multiprocessing.get_context("fork").Event()
    taken: list[int | None] = []

    def take(counter: Any, chunks: int) -> int | None:
        if os.getpid() != parent:  # the worker dies with the lock held
            counter.get_lock().acquire()
            locked.set()
            os._exit(9)
        taken.append(real_take(counter, chunks))
        return taken[-1]

    def here(start: int, stop: int) -> tuple[int, int]:
        if start == 0:
            assert locked.wait(10)
        return start, stop

    monkeypatch.setattr(parallel, "_take", take)
    monkeypatch.setattr(parallel, "_LOCK_SECONDS", 0.2)
    results = parallel.share(
        40, 4, 2, here=here, work=lambda a, b: None, settle=lambda a, b, v: pytest.fail()
    )
    assert results == [(s, s + 4) for s in range(0, 40, 4)]
    # the lock timed out (on the first take if the worker was quicker to it); every chunk
    # left was done here
    assert taken in ([0, None], [None])
    assert multiprocessing.active_children() == []


def test_an_error_here_stops_the_workers_and_is_raised() -> None:
    def here(start: int, stop: int) -> None:
        raise KeyboardInterrupt  # Ctrl-C while this process reads its chunk

    with pytest.raises(KeyboardInterrupt):
        parallel.share(10_000, 1, 2, here=here, work=lambda a, b: None, settle=lambda *a: None)
    assert multiprocessing.active_children() == []
