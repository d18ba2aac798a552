"""The idle daemon does not load FFmpeg: video libraries load only when a video is handled."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_daemon_and_publisher_does_not_import_av() -> None:
    code = (
        "import sys\n"
        "import social_publisher.cli, social_publisher.services.daemon, "
        "social_publisher.services.publisher, social_publisher.media.video, "
        "social_publisher.media.video.render, social_publisher.channels.facebook_video, "
        "social_publisher.channels.zalo_video\n"
        "print('av' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_probing_a_clip_does_import_av(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # the guard above can fail: probing loads PyAV in this process
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from social_publisher.media.video import probe_video\n"
        "from social_publisher.errors import MediaError\n"
        f"p = Path({str(tmp_path / 'x.mp4')!r}); p.write_bytes(b'\\0' * 64)\n"
        "try:\n    probe_video(p)\nexcept MediaError:\n    pass\n"
        "print('av' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True", out.stderr
