"""A post's photos are rendered in one concurrent call, with the one-by-one behaviour."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from social_publisher.config import Settings
from social_publisher.services.daemon import MediaRender, default_render, run_pass

from .conftest import T0, add_post, pubs, write_image


class Spy:
    """The real render (batch form or not), counting how it is called."""

    def __init__(self, render: MediaRender) -> None:
        self.inner = render
        self.single: list[str] = []
        self.batches: list[list[str]] = []

    def __call__(self, source: Path) -> Sequence[Any]:
        self.single.append(source.name)
        return self.inner(source)


class BatchSpy(Spy):
    def render_many(self, sources: Sequence[Path]) -> Sequence[Any]:
        self.batches.append([s.name for s in sources])
        return self.inner.render_many(sources)


def _spy(settings: Settings, batch: bool) -> Spy:
    render = default_render(settings)
    assert isinstance(render, MediaRender)
    return BatchSpy(render) if batch else Spy(render)


def test_default_render_takes_a_post_at_once(
    db: Any, make_ctx: Any, clock: Any, fb: Any, zalo: Any, dsettings: Settings
) -> None:
    folder = dsettings.queue_dir / "nam-anh"
    images = [write_image(folder / f"anh-{i}.jpg", seed=i, size=(640 + i, 480)) for i in range(5)]
    sent: dict[str, Any] = {}
    for channel, method in ((fb, "publish"), (zalo, "create_article")):
        original = getattr(channel, method)

        def recording(post: Any, _original: Any = original, _name: str = channel.name) -> Any:
            sent[_name] = post
            return _original(post)

        setattr(channel, method, recording)
    spy = _spy(dsettings, batch=True)
    post = add_post(db, "nam-anh", publish_at=T0, images=images)
    run_pass(make_ctx(render=spy), clock())
    assert {p.state for p in pubs(db, post).values()} == {"published"}
    names = [i["name"] for i in images]
    assert spy.single == [] and spy.batches == [names, names]  # the cover is anh-0: no extra
    for channel in ("facebook", "zalo"):
        out = sent[channel]
        assert len(out.images) == 5, channel
        # in the post's order, each rendered from its own photo (the cache path holds
        # the source's SHA-256)
        for i, (image, meta) in enumerate(zip(out.images, images, strict=True)):
            assert meta["sha256"] in str(image.path) and image.width == 640 + i
    cover = sent["zalo"].cover
    assert cover is not None and images[0]["sha256"] in str(cover.path)
    assert (cover.width, cover.height) == (640, 360)


def _broken(folder: Path, name: str) -> dict[str, Any]:
    data = "không phải ảnh".encode()
    (folder / name).write_bytes(data)
    return {"name": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def _changed(folder: Path, name: str, seed: int) -> dict[str, Any]:
    meta: dict[str, Any] = write_image(folder / name, seed=seed)
    write_image(folder / name, seed=seed + 100)  # edited after approval
    return meta


@pytest.mark.parametrize(
    ("layout", "one_by_one", "at_once"),
    [
        # the broken photo: needs attention, naming it
        ("good broken good", [0, 1], [0, 1, 2]),
        # the broken photo comes first: needs attention
        ("good broken changed", [0, 1], [0, 1]),
        # the changed photo comes first: wait for the edit to end; never render past it
        ("good changed broken", [0], [0]),
        ("good gone", [0], [0]),
    ],
)
def test_batch_and_one_by_one_end_the_same(
    db: Any,
    make_ctx: Any,
    clock: Any,
    fb: Any,
    dsettings: Settings,
    layout: str,
    one_by_one: list[int],
    at_once: list[int],
) -> None:
    outcomes = []
    for batch in (False, True):
        name = f"{layout.replace(' ', '-')}-{int(batch)}"
        folder = dsettings.queue_dir / name
        folder.mkdir(parents=True)
        images = []
        for i, kind in enumerate(layout.split()):
            if kind == "good":
                images.append(write_image(folder / f"anh-{i}.jpg", seed=i))
            elif kind == "broken":
                images.append(_broken(folder, f"anh-{i}.jpg"))
            elif kind == "changed":
                images.append(_changed(folder, f"anh-{i}.jpg", seed=i))
            else:
                images.append({"name": f"anh-{i}.jpg", "sha256": "0" * 64, "bytes": 1})
        spy = _spy(dsettings, batch)
        post = add_post(db, name, publish_at=T0, channels=("facebook",), images=images)
        run_pass(make_ctx(render=spy), clock())
        pub = pubs(db, post)["facebook"]
        outcomes.append((pub.state, pub.attention_reason, pub.last_error_kind))
        rendered = spy.batches[0] if batch else spy.single
        assert rendered == [f"anh-{i}.jpg" for i in (at_once if batch else one_by_one)]
    assert outcomes[0] == outcomes[1]
    state, reason, kind = outcomes[0]
    if "broken" in layout.split()[1]:
        assert state == "needs_attention" and kind == "media" and "anh-1.jpg" in reason
    else:
        assert state == "due" and kind is None
    assert not fb.calls
