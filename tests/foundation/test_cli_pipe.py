"""Output into a closed pipe (``shares status --json | head``): a quiet exit, in a real process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from social_publisher.cli import EXIT_BROKEN_PIPE
from social_publisher.store import Database

PACKAGED_AGENCIES = Path(__file__).parents[2] / "social_publisher" / "data" / "agencies.csv"


@pytest.mark.parametrize("command", [["shares", "status", "--json"], ["status", "--json"]])
def test_a_closed_pipe_ends_the_command_quietly(
    command: list[str], env: dict[str, str], tmp_path: Path, db: Database
) -> None:
    (tmp_path / "queue").mkdir()
    shutil.copy(PACKAGED_AGENCIES, env["AGENCIES_FILE"])  # what init would have put there
    run_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("FB_", "ZALO_"))},
        **env,
    }
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the first byte, as ``head`` may be
    try:
        done = subprocess.run(
            [sys.executable, "-m", "social_publisher", "--env-file", "none.env", *command],
            env=run_env,
            cwd=tmp_path,
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert done.stderr.decode("utf-8") == ""
    assert done.returncode == EXIT_BROKEN_PIPE
