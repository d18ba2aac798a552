"""A Zalo article needs a cover: text-only posts get the default one, a bad setting is reported."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from social_publisher.config import load_settings
from social_publisher.media import render_image
from social_publisher.services.daemon import build_context, run_pass

from .conftest import T0, add_post, pubs


def _ctx(db: Any, env: dict[str, str], clock: Any, zalo: Any, tmp_path: Path) -> Any:
    settings = load_settings(env, dotenv_path=None)

    def render(source: Path) -> Any:
        return render_image(source, cache_dir=tmp_path / "cache", max_pixels=80_000_000)

    return build_context(
        settings,
        db,
        clock=clock,
        channels={"zalo": zalo},
        ingest=False,
        render=render,
        worker="w1",
        rng=random.Random(7),
    )


def test_text_only_zalo_post_gets_the_packaged_default_cover(
    db: Any, daemon_env: dict[str, str], clock: Any, zalo: Any, tmp_path: Path
) -> None:
    sent: list[Any] = []
    create = zalo.create_article

    def recording_create(outgoing: Any) -> str:
        sent.append(outgoing)
        return str(create(outgoing))

    zalo.create_article = recording_create
    post = add_post(db, "chi-chu", publish_at=T0, channels=("zalo",))
    run_pass(_ctx(db, daemon_env, clock, zalo, tmp_path), clock())
    assert pubs(db, post)["zalo"].state in ("published", "confirmed")
    assert len(sent) == 1 and sent[0].images == ()
    cover = sent[0].cover
    assert cover is not None and (cover.width, cover.height) == (1280, 720)


def test_missing_configured_cover_needs_attention_with_the_setting_named(
    db: Any, daemon_env: dict[str, str], clock: Any, zalo: Any, tmp_path: Path
) -> None:
    env = {**daemon_env, "ZALO_DEFAULT_COVER": str(tmp_path / "khong-co.jpg")}
    post = add_post(db, "chi-chu", publish_at=T0, channels=("zalo",))
    run_pass(_ctx(db, env, clock, zalo, tmp_path), clock())
    pub = pubs(db, post)["zalo"]
    assert pub.state == "needs_attention"
    assert "ZALO_DEFAULT_COVER" in (pub.attention_reason or "")
    assert not zalo.remotes
