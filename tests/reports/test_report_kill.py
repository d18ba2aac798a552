"""A ``report`` process killed while it writes never leaves a broken file under a final name.

The child is the real command (``python -m social_publisher report …``) with one change:
once it has written a few parts of the target zip (the workbook or the document) it
says so and waits, so the SIGKILL lands mid-write every time instead of by luck.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from openpyxl import load_workbook

from social_publisher.config import Settings
from social_publisher.errors import SocialPublisherError
from social_publisher.services.report import PARTIAL_PREFIX, make_report, parse_month
from social_publisher.store import Database

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import sys, time, zipfile
from pathlib import Path
marker, suffix = Path(sys.argv[1]), sys.argv[2]
real = zipfile.ZipFile.writestr
parts = 0

def writestr(self, *args, **kwargs):
    global parts
    real(self, *args, **kwargs)
    if str(self.filename).endswith(suffix):
        parts += 1
        if parts == 3:  # half a zip on disk: no central directory yet
            self.fp.flush()
            marker.write_text(str(self.filename))
            time.sleep(120)

zipfile.ZipFile.writestr = writestr
from social_publisher.cli import main
sys.exit(main(sys.argv[3:]))
"""


def _kill_mid_write(env: dict[str, str], out: Path, suffix: str, tmp_path: Path) -> str:
    """Run ``report`` as a child, SIGKILL it once it is inside the zip; the file it was at."""
    marker = tmp_path / f"writing{suffix}"
    marker.unlink(missing_ok=True)
    child_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    argv = [
        sys.executable,
        "-c",
        CHILD,
        str(marker),
        suffix,
        "--env-file",
        "/nonexistent/.env",
        "report",
        "--month",
        "2024-10",
        "--out",
        str(out),
        "--now",
        "2024-11-20T01:00:00+00:00",
    ]
    with subprocess.Popen(
        argv, env=child_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    ) as proc:
        try:
            deadline = time.monotonic() + 120
            while not marker.exists():
                if proc.poll() is not None:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    pytest.fail(f"report ended ({proc.returncode}) before writing: {err}")
                if time.monotonic() > deadline:
                    pytest.fail("report never reached the zip")
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == -signal.SIGKILL
    return marker.read_text()


def _final_files_are_whole(folder: Path) -> dict[str, bytes]:
    """Every file under a final name opens; returns their bytes."""
    files = {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")}
    for name in files:
        path = folder / name
        if name.endswith((".xlsx", ".docx")):
            with zipfile.ZipFile(path) as z:
                assert z.testzip() is None, name
        if name.endswith(".xlsx"):
            load_workbook(path)
        if name.endswith(".docx"):
            Document(str(path))
    return files


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_report_killed_mid_write_leaves_no_broken_file(
    env: dict[str, str], settings: Settings, loaded: Database, h: type, tmp_path: Path
) -> None:
    h.seed_office(loaded, settings, since=h.local(2024, 9, 2), until=h.local(2024, 11, 20, 8))
    out = tmp_path / "reports"
    folder = out / "bao-cao-2024-10"

    # 1. killed in the workbook on its first run: no file under the final name at all
    writing = _kill_mid_write(env, out, ".xlsx", tmp_path)
    _final_files_are_whole(folder)
    assert not (folder / "bao-cao-2024-10.xlsx").exists()
    assert Path(writing).name.startswith(PARTIAL_PREFIX)  # it was writing a temporary name
    assert Path(writing).name.endswith("bao-cao-2024-10.xlsx")

    # 2. a complete report (it sweeps the partial files of the killed one)
    first = make_report(
        loaded,
        settings,
        parse_month("2024-10", h.TZ),
        out,
        now=h.local(2024, 11, 20, 8, 0),
        sync_agencies=False,
    )
    assert not [p for p in folder.iterdir() if p.name.startswith(PARTIAL_PREFIX)]
    before = _final_files_are_whole(first.folder)
    assert {"bao-cao-2024-10.xlsx", "bao-cao-2024-10.docx"} <= before.keys()

    # 3. a re-run killed in the document (after the chart, workbook and CSVs were written):
    # every file keeps the previous complete version
    h.add_post(loaded, "bai-moi", "Bài đăng thêm", h.local(2024, 10, 30, 9, 0))
    writing = _kill_mid_write(env, out, ".docx", tmp_path)
    assert Path(writing).name.endswith("bao-cao-2024-10.docx")
    assert _final_files_are_whole(folder) == before


def test_a_failed_write_leaves_no_partial_file(
    loaded: Database, settings: Settings, h: type, tmp_path: Path, monkeypatch: Any
) -> None:
    import social_publisher.services.report_docx as report_docx

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report_docx, "write_document", broken)
    with pytest.raises(OSError):
        make_report(
            loaded,
            settings,
            parse_month("2024-10", h.TZ),
            tmp_path,
            now=h.local(2024, 11, 20),
            sync_agencies=False,
        )
    assert list((tmp_path / "bao-cao-2024-10").iterdir()) == []


def test_a_workbook_open_in_excel_is_named_in_the_error(
    loaded: Database, settings: Settings, h: type, tmp_path: Path, monkeypatch: Any
) -> None:
    import social_publisher.services.report as report

    real = os.replace

    def locked(src: Any, dst: Any) -> None:
        if str(dst).endswith(".xlsx"):  # what Windows does to a file Excel has open
            raise PermissionError(13, "The process cannot access the file")
        real(src, dst)

    monkeypatch.setattr(report.os, "replace", locked)
    with pytest.raises(SocialPublisherError, match=r"bao-cao-2024-10\.xlsx: tệp đang mở"):
        make_report(
            loaded,
            settings,
            parse_month("2024-10", h.TZ),
            tmp_path,
            now=h.local(2024, 11, 20),
            sync_agencies=False,
        )
    folder = tmp_path / "bao-cao-2024-10"
    assert not [p for p in folder.iterdir() if p.name.startswith(PARTIAL_PREFIX)]
