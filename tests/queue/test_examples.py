"""The example posts shipped in content_queue/ pass ``check`` (the demo publishes them)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from PIL import Image

EXAMPLES = Path(__file__).resolve().parents[2] / "content_queue"
Run = Callable[..., tuple[int, str, str]]


def test_example_posts_pass_check(run_cli: Run) -> None:
    code, out, err = run_cli("check", "--queue", str(EXAMPLES), "--json")
    assert (code, err) == (0, "")
    posts = {p["folder"]: p for p in json.loads(out)["posts"]}
    assert sorted(posts) == [
        "hoa-don-dien-tu-may-tinh-tien",
        "ngay-chuyen-doi-so-quoc-gia",
        "vneid-thay-the-the-bhyt",
    ]
    assert {f: p["state"] for f, p in posts.items()} == dict.fromkeys(posts, "ready")
    assert [len(p["images"]) for p in posts.values()] == [0, 3, 1]
    for post in posts.values():
        assert post["channels"] == ["facebook", "zalo"]
        assert post["publish_at"] >= "2026-12-01"
        assert post["errors"] == [] and post["warnings"] == []


def test_example_images_are_small_real_photos() -> None:
    images = sorted(EXAMPLES.glob("*/*.jpg"))
    assert len(images) == 4
    for path in images:
        assert path.stat().st_size < 100_000
        with Image.open(path) as im:
            assert (im.format, im.size) == ("JPEG", (1200, 800))


def test_examples_name_the_approver() -> None:
    for text in EXAMPLES.glob("*/bai-viet.txt"):
        assert "Người duyệt: Võ Thanh Hùng" in text.read_text(encoding="utf-8")
