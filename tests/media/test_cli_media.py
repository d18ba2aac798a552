"""``social-publisher media render IMAGE... --out DIR [--json]``."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from social_publisher.cli import main

VIETNAMESE = set("ăâđêôơưáàảãạấầẩẫậắằẳẵặéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ")


@pytest.fixture
def cli(dirs: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    monkeypatch.setenv("MEDIA_CACHE_DIR", str(dirs.cache))
    monkeypatch.delenv("MEDIA_MAX_PIXELS", raising=False)
    env_file = str(dirs.root / "no.env")

    def run(*args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main(["--env-file", env_file, "media", "render", *args], out=out, err=err)
        return code, out.getvalue(), err.getvalue()

    return SimpleNamespace(run=run)


@pytest.fixture
def inputs(dirs: SimpleNamespace, h: SimpleNamespace) -> SimpleNamespace:
    good = dirs.root / "Lễ hội.jpg"
    h.scene((1600, 1200)).save(good, "JPEG", exif=h.gps_exif(6))
    png = dirs.root / "so-do.png"
    h.scene((800, 600)).save(png, "PNG")
    text = dirs.root / "ghi-chu.jpg"
    text.write_text("không phải ảnh", encoding="utf-8")
    empty = dirs.root / "rong.jpg"
    empty.write_bytes(b"")
    return SimpleNamespace(good=good, png=png, text=text, empty=empty)


def test_json_output_structure_and_files(
    cli: SimpleNamespace, inputs: SimpleNamespace, dirs: SimpleNamespace
) -> None:
    code, out, err = cli.run(
        str(inputs.good), str(inputs.text), str(inputs.png), "--out", str(dirs.out), "--json"
    )
    assert code == 1
    assert err == ""
    result = json.loads(out)
    assert [r["input"] for r in result] == [str(inputs.good), str(inputs.text), str(inputs.png)]
    assert [r["ok"] for r in result] == [True, False, True]
    assert set(result[1]) == {"input", "ok", "error"}
    assert "không phải là ảnh" in result[1]["error"]
    for item, stem in ((result[0], "Lễ hội"), (result[2], "so-do")):
        assert set(item) == {"input", "ok", "renditions"}
        assert [r["channel"] for r in item["renditions"]] == ["facebook", "zalo", "zalo_cover"]
        for r in item["renditions"]:
            assert set(r) == {"channel", "path", "width", "height", "bytes"}
            path = Path(r["path"])
            assert path == dirs.out / f"{stem}.{r['channel']}.jpg"
            assert path.stat().st_size == r["bytes"]
            assert all(isinstance(r[k], int) for k in ("width", "height", "bytes"))
    fb = result[0]["renditions"][0]
    assert (fb["width"], fb["height"]) == (1200, 1600), "EXIF orientation 6 applied"
    cover = result[0]["renditions"][2]
    assert (cover["width"], cover["height"]) == (1200, 675)


def test_exit_0_when_all_rendered(
    cli: SimpleNamespace, inputs: SimpleNamespace, dirs: SimpleNamespace
) -> None:
    code, out, _ = cli.run(str(inputs.good), "--out", str(dirs.out), "--json")
    assert code == 0
    assert json.loads(out)[0]["ok"] is True


def test_human_output_is_vietnamese(
    cli: SimpleNamespace, inputs: SimpleNamespace, dirs: SimpleNamespace
) -> None:
    code, out, err = cli.run(str(inputs.good), str(inputs.empty), "--out", str(dirs.out))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"Đã xử lý {inputs.good}:"
    assert lines[1].startswith("  Facebook: 1200×1600 điểm ảnh, ")
    assert lines[2].startswith("  Zalo (ảnh trong bài): 960×1280 điểm ảnh, ")
    assert lines[3].startswith("  Zalo (ảnh bìa): 1200×675 điểm ảnh, ")
    assert lines[4].startswith(f"Không xử lý được {inputs.empty}: Tệp ảnh rong.jpg rỗng")
    assert lines[-1] == "Xong: 1/2 ảnh đã xử lý, 1 ảnh bị từ chối."
    assert "Traceback" not in out + err
    assert VIETNAMESE & set(out)


def test_same_stem_twice_gets_distinct_names(
    cli: SimpleNamespace, inputs: SimpleNamespace, dirs: SimpleNamespace, h: SimpleNamespace
) -> None:
    other = dirs.root / "sub"
    other.mkdir()
    twin = other / inputs.good.name
    h.scene((900, 600)).save(twin, "JPEG")
    code, out, _ = cli.run(str(inputs.good), str(twin), "--out", str(dirs.out), "--json")
    assert code == 0
    names = {Path(r["path"]).name for item in json.loads(out) for r in item["renditions"]}
    assert "Lễ hội.facebook.jpg" in names and "Lễ hội-2.facebook.jpg" in names


def test_out_that_is_a_file_is_bad_usage(
    cli: SimpleNamespace, inputs: SimpleNamespace, dirs: SimpleNamespace
) -> None:
    blocker = dirs.root / "a-file"
    blocker.write_text("x")
    code, _, err = cli.run(str(inputs.good), "--out", str(blocker))
    assert code == 2
    assert "--out" in err and "Traceback" not in err


def test_media_without_subcommand_shows_help(dirs: SimpleNamespace) -> None:
    out = io.StringIO()
    code = main(["--env-file", str(dirs.root / "no.env"), "media"], out=out, err=io.StringIO())
    assert code == 2
    assert "render" in out.getvalue()


def test_never_a_traceback_from_the_real_command(
    inputs: SimpleNamespace, dirs: SimpleNamespace, h: SimpleNamespace
) -> None:
    bomb = dirs.root / "bom.png"
    bomb.write_bytes(h.png_header_only(100_000, 100_000))
    cut = dirs.root / "cut.jpg"
    cut.write_bytes(inputs.good.read_bytes()[:3000])
    env = {**os.environ, "MEDIA_CACHE_DIR": str(dirs.cache), "PYTHONWARNINGS": "default"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "social_publisher",
            "--env-file",
            str(dirs.root / "no.env"),
            "media",
            "render",
            str(inputs.text),
            str(inputs.empty),
            str(bomb),
            str(cut),
            str(dirs.root / "missing.heic"),
            str(inputs.good),
            "--out",
            str(dirs.out),
        ],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.count("Không xử lý được") == 5
    assert "Xong: 1/6 ảnh đã xử lý, 5 ảnh bị từ chối." in proc.stdout
