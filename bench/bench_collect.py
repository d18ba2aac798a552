"""Collection benchmark: API requests to read engagement of N posts, ours against naive.

Run from the repository root::

    .venv/bin/python bench/bench_collect.py            # 500 posts on each channel
    .venv/bin/python bench/bench_collect.py --posts 120

Against the local sandbox (real HTTP on 127.0.0.1, the sandbox's own request counter,
``GET /__sandbox/requests``), it seeds N published posts on the Facebook Page and N
articles on the Zalo OA, records them as publications in a temporary SQLite database, and:

(a) ours: ``collect()`` (multi-id lookups of 50 ids with field expansion; Zalo's paged
    ``getslice``), run twice: the first run also learns which insight metrics the Page
    refuses (the sandbox Page refuses reach, like a Page under 100 likes);
(b) naive: one lookup per post through the same channel (counters + insights, 2 requests
    a post), and for Zalo one ``getdetail`` per article.

Small Pages have small API budgets (4800 × engaged users a day), so requests are the cost.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from social_publisher.channels.facebook import FacebookChannel  # noqa: E402
from social_publisher.config import load_settings  # noqa: E402
from social_publisher.sandbox import Sandbox  # noqa: E402
from social_publisher.services.engagement import collect  # noqa: E402
from social_publisher.store import Database, Post, Publication  # noqa: E402

NOW = datetime(2024, 10, 20, 1, 0, tzinfo=UTC)


def counts(box: Sandbox) -> dict[str, Any]:
    answer = requests.get(f"{box.url}/__sandbox/requests", timeout=10)
    answer.raise_for_status()
    return answer.json()  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=500)
    args = parser.parse_args()
    n = args.posts

    box = Sandbox(
        clock=lambda: NOW,
        graph_refused_metrics=("post_total_media_view_unique",),
        graph_budget=1_000_000,
    )
    box.start()
    assert box.zalo is not None
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.db'}",
            "AGENCIES_FILE": str(Path(tmp) / "none.csv"),
            **box.env(),
        }
        settings = load_settings(env, dotenv_path=None)
        db = Database(settings.database_url)
        db.upgrade()
        fb_ids, zalo_ids = [], []
        for i in range(n):
            at = NOW - timedelta(days=3, minutes=i)
            fb_ids.append(box.graph.add_post(f"Bài {i}", created_time=at))
            box.graph.add_engagement(fb_ids[-1], reactions=i, comments=1, views=10 * i)
            zalo_ids.append(box.zalo.add_article(f"Bài {i}", created=at, views=i, shares=1))
        with db.engine.begin() as conn:
            conn.execute(
                insert(Post),
                [{"id": i + 1, "folder": f"bai-{i}", "title": f"Bài {i}"} for i in range(n)],
            )
            conn.execute(
                insert(Publication),
                [
                    {
                        "post_id": i + 1,
                        "channel": channel,
                        "state": "confirmed",
                        "remote_id": rid,
                        "published_at": NOW - timedelta(days=3, minutes=i),
                    }
                    for i in range(n)
                    for channel, rid in (("facebook", fb_ids[i]), ("zalo", zalo_ids[i]))
                ],
            )

        def run(label: str, **kwargs: Any) -> None:
            before = counts(box)["routes"]
            t0 = time.perf_counter()
            report = collect(db, settings, now=NOW, detect=False, everything=True, **kwargs)
            elapsed = time.perf_counter() - t0
            after = counts(box)["routes"]
            delta = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
            fb = sum(v for k, v in delta.items() if "/zalo/" not in k)
            zl = sum(v for k, v in delta.items() if "/zalo/" in k)
            assert report.snapshots == 2 * n, report.errors
            print(
                f"{label}: Facebook {fb} requests, Zalo {zl} requests for {n} posts each "
                f"({elapsed:.1f} s)"
            )

        print(f"target: Facebook ≤ 2·⌈{n}/50⌉ = {2 * math.ceil(n / 50)} (+ a first-run probe)")
        run("ours, first run ")
        run("ours, next runs ")

        before = counts(box)["routes"]
        channel = FacebookChannel(settings, sleep=lambda _s: None)
        refused = frozenset({"post_total_media_view_unique"})  # as learnt: fair to naive
        for rid in fb_ids:
            channel.fetch_engagement([rid], unavailable_metrics=refused)
        for aid in zalo_ids:
            requests.get(
                f"{settings.zalo_openapi_url}/v2.0/article/getdetail",
                params={"id": aid},
                headers={"access_token": settings.zalo_access_token},
                timeout=10,
            )
        after = counts(box)["routes"]
        delta = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
        fb = sum(v for k, v in delta.items() if "/zalo/" not in k)
        zl = sum(v for k, v in delta.items() if "/zalo/" in k)
        print(f"naive (per post): Facebook {fb} requests, Zalo {zl} requests for {n} posts each")
        db.dispose()
    box.stop()


if __name__ == "__main__":
    main()
