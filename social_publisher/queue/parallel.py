"""Share a big scan between this process and forked worker processes.

Why: reading, parsing, validating and hashing a folder is Python work, so one
process uses one core; a first ``check`` of thousands of folders (a new install,
a restored backup, a new parser version) is bound by it. Workers are *forked*: they
start in a millisecond and inherit the scan's state (folder names, options, the
image check, the scan cache) without pickling any of it. This process works too,
on the same list: every process takes the next chunk from one shared counter, so
a busy core simply takes fewer chunks. A worker's results come back pickled
through a pipe and are turned into this process's results as they arrive.

Forking is safe only from a process with one thread (a lock held by another
thread would stay locked forever in the child), and only Linux forks reliably
(macOS system libraries refuse it; Windows cannot): everywhere else, and for
small jobs, :func:`worker_count` says 1 and the caller works alone.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # multiprocessing loads only when a scan is shared (the daemon never does)
    from multiprocessing.connection import Connection
    from multiprocessing.sharedctypes import Synchronized

log = logging.getLogger(__name__)

#: most processes a scan uses (past this the disk, not the CPU, sets the pace)
MAX_PROCESSES = 8
#: longest wait for the chunk counter's lock (held for a microsecond, unless its holder died)
_LOCK_SECONDS = 5.0
#: how much a worker may send ahead before it waits for this process to read
_PIPE_BYTES = 1 << 20

_T = TypeVar("_T")


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def busy_elsewhere() -> int:
    """Other processes running right now (Linux: ``/proc/loadavg`` counts the runnable
    tasks, this one included); 0 where it cannot be read."""
    try:
        with open("/proc/loadavg", encoding="ascii") as handle:
            running = int(handle.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return 0
    return max(0, running - 1)


def can_fork() -> bool:
    return sys.platform.startswith("linux") and threading.active_count() == 1


def worker_count(jobs: int, minimum: int, chunk: int) -> int:
    """How many processes (this one included) to use for ``jobs`` items: 1 below
    ``minimum``, where forking cannot be done safely, or with no idle CPU. Workers on
    CPUs that other programs keep busy would only make the scan slower (measured:
    up to 1.4x slower than one process on two CPUs when one is taken)."""
    if jobs < minimum or not can_fork():
        return 1
    idle = usable_cpus() - busy_elsewhere()
    return max(1, min(idle, MAX_PROCESSES, -(-jobs // chunk)))


def _take(counter: Synchronized[int], chunks: int) -> int | None:
    """The next chunk's index, or None when all are taken.

    A worker killed while it held the lock would leave it locked for good: after a
    while the caller stops taking chunks, and this process does the rest at the end.
    """
    lock = counter.get_lock()
    if not lock.acquire(timeout=_LOCK_SECONDS):
        return None
    try:
        index = counter.value
        if index >= chunks:
            return None
        counter.value = index + 1
    finally:
        lock.release()
    return index


def _worker(
    conn: Connection,
    counter: Synchronized[int],
    bounds: list[tuple[int, int]],
    work: Callable[[int, int], Any],
) -> None:
    """A forked worker: take chunks until none are left; send ``(index, result)``."""
    gc.disable()  # short-lived: a collection would only copy the parent's pages
    try:
        with contextlib.suppress(OSError):  # Linux only; a smaller pipe only costs waits
            import fcntl

            fcntl.fcntl(conn.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        while (index := _take(counter, len(bounds))) is not None:
            conn.send((index, work(*bounds[index])))
        conn.close()
    except BaseException:  # Ctrl-C, a closed pipe: the parent does the chunk itself
        sys.exit(1)  # quietly (SystemExit prints no traceback)


def share(
    total: int,
    chunk: int,
    processes: int,
    *,
    here: Callable[[int, int], _T],
    work: Callable[[int, int], Any],
    settle: Callable[[int, int, Any], _T],
) -> list[_T]:
    """Cover ``range(total)`` in chunks; return one result per chunk, in order.

    This process runs ``here(start, stop)``; ``processes - 1`` forked workers run
    ``work(start, stop)``, whose result (pickled) becomes ``settle(start, stop, result)``
    here. ``here`` and ``settle`` must give the same kind of result. A chunk a worker
    took but never sent (it died: killed, out of memory, a crash in a C library) is
    done here at the end, so every chunk has its result. Raises only what ``here`` or
    ``settle`` raise, or ``OSError`` if no worker could be started.
    """
    import multiprocessing
    from multiprocessing.connection import Connection, wait

    bounds = [(start, min(start + chunk, total)) for start in range(0, total, chunk)]
    results: dict[int, _T] = {}
    context = multiprocessing.get_context("fork")
    counter: Synchronized[int] = context.Value("q", 0)
    readers: list[Connection] = []
    workers: list[Any] = []

    def receive(timeout: float | None) -> None:
        for conn in wait(readers, timeout):
            assert isinstance(conn, Connection)
            try:
                index, value = conn.recv()
            except (EOFError, OSError):  # the worker is done (or gone)
                readers.remove(conn)
                conn.close()
                continue
            start, stop = bounds[index]
            results[index] = settle(start, stop, value)

    finished = False
    try:
        for _ in range(max(0, processes - 1)):
            reader, writer = context.Pipe(duplex=False)
            readers.append(reader)
            process = context.Process(target=_worker, args=(writer, counter, bounds, work))
            process.daemon = True  # terminated if this process exits first
            try:
                process.start()
            finally:
                writer.close()  # the worker holds its copy; EOF comes when it exits
            workers.append(process)
        while (index := _take(counter, len(bounds))) is not None:
            start, stop = bounds[index]
            results[index] = here(start, stop)
            if readers:
                receive(0)
        while readers:
            receive(None)
        finished = True
    finally:
        for conn in readers:
            conn.close()
        for process in workers:
            if not finished:  # an error or Ctrl-C here: the workers' results are not wanted
                process.terminate()
            process.join()
    missing = len(bounds) - len(results)
    if missing:
        codes = sorted({process.exitcode for process in workers if process.exitcode})
        log.warning(
            "%d of %d chunks were left by a worker that stopped (exit codes %s); "
            "done in this process",
            missing,
            len(bounds),
            codes,
        )
    return [
        results[index] if index in results else here(start, stop)
        for index, (start, stop) in enumerate(bounds)
    ]
