"""Collection benchmark: API requests to read engagement of N posts, ours against naive.

Run from the repository root::

    .venv/bin/python bench/bench_collect.py            # 500 posts on each channel
    .venv/bin/python bench/bench_collect.py --posts 120

Against the local sandbox, strict as Graph is for an app created after 4 Nov 2026 (no
``?ids=``; real HTTP on 127.0.0.1, the sandbox's own request counter
``GET /__sandbox/requests`` and the calls it charges against the Page's budget), it seeds N
published posts on the Facebook Page and N articles on the Zalo OA, records them as
publications in a temporary SQLite database, and:

(a) ours: ``collect()`` (synchronous batch requests of 50 entries: one for the counters
    and one for the insights per 50 posts; Zalo's paged ``getslice``), run twice: the first
    run also learns which insight metric the Page refuses (the sandbox Page refuses reach,
    like a Page under 100 likes); then once more with 5 % of the batch entries left
    ``null`` by the sandbox (as Graph does to a batch that ran out of time), resent;
(b) naive: one call per post and metric family (``GET /{id}?fields=…`` and
    ``GET /{id}/insights``: 2 requests a post), and for Zalo one ``getdetail`` per article.

Small Pages have small API budgets (4800 × engaged users a day). A batch entry counts as
one call against that budget, like the single call it replaces: the batch saves HTTP
requests (time, connections, the ``?ids=``-less path for new apps), not budget; the budget
is saved by collecting on a schedule and never asking again for refused metrics.
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

from social_publisher.channels.facebook import ENGAGEMENT_FIELDS  # noqa: E402
from social_publisher.config import load_settings  # noqa: E402
from social_publisher.sandbox import Sandbox  # noqa: E402
from social_publisher.services.engagement import collect  # noqa: E402
from social_publisher.store import Database, Post, Publication  # noqa: E402

NOW = datetime(2024, 10, 20, 1, 0, tzinfo=UTC)
BATCH = "POST /{version}/ (batch)"


def counts(box: Sandbox) -> dict[str, Any]:
    answer = requests.get(f"{box.url}/__sandbox/requests", timeout=10)
    answer.raise_for_status()
    return answer.json()  # type: ignore[no-any-return]


def budget_calls(box: Sandbox, page_id: str) -> int:
    return int(box.graph.state()["calls"].get(page_id, 0))


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
        page = settings.fb_page_id
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

        def measure(label: str, work: Any) -> dict[str, int]:
            before = counts(box)["routes"]
            spent = budget_calls(box, page)
            t0 = time.perf_counter()
            work()
            elapsed = time.perf_counter() - t0
            after = counts(box)["routes"]
            delta = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
            fb = sum(v for k, v in delta.items() if "/zalo/" not in k)
            zl = sum(v for k, v in delta.items() if "/zalo/" in k)
            legacy = sum(v for k, v in delta.items() if "?ids" in k or "(unknown)" in k)
            assert legacy == 0, delta
            calls = budget_calls(box, page) - spent
            print(
                f"{label}: Facebook {fb} HTTP requests ({delta.get(BATCH, 0)} batch), "
                f"{calls} calls on the Page budget; Zalo {zl} requests; {n} posts each "
                f"({elapsed:.1f} s)"
            )
            return {"fb": fb, "batch": delta.get(BATCH, 0), "calls": calls, "zalo": zl}

        def ours() -> None:
            report = collect(db, settings, now=NOW, detect=False, everything=True)
            assert report.snapshots == 2 * n, report.errors

        families = math.ceil(n / 50)
        print(
            f"target: ≤ ⌈{n}/50⌉ = {families} batch requests per metric family "
            f"(counters, insights): {2 * families} a run (+ a first-run probe)"
        )
        measure("ours, first run ", ours)
        steady = measure("ours, next runs ", ours)
        assert steady["batch"] == steady["fb"] == 2 * families, steady
        box.faults.set("graph.batch_entry=null:0.05,seed=11")
        measure("ours, 5 % null  ", ours)
        box.faults.clear()

        headers = {"Authorization": f"Bearer {settings.fb_page_access_token}"}
        graph = f"{settings.fb_graph_url}/{settings.fb_graph_version}"
        session = requests.Session()

        def naive() -> None:
            for rid in fb_ids:
                session.get(
                    f"{graph}/{rid}", params={"fields": ENGAGEMENT_FIELDS}, headers=headers
                ).raise_for_status()
                session.get(
                    f"{graph}/{rid}/insights",
                    params={"metric": "post_media_view"},  # the refused metric left out: fair
                    headers=headers,
                ).raise_for_status()
            for aid in zalo_ids:
                session.get(
                    f"{settings.zalo_openapi_url}/v2.0/article/getdetail",
                    params={"id": aid},
                    headers={"access_token": settings.zalo_access_token},
                ).raise_for_status()

        slow = measure("naive (per post)", naive)
        print(
            f"requests per {n} posts: ours {steady['fb']} vs naive {slow['fb']} "
            f"({slow['fb'] / max(1, steady['fb']):.0f}× fewer); budget calls: ours "
            f"{steady['calls']} vs naive {slow['calls']} (a batch entry counts as a call)"
        )
        session.close()
        db.dispose()
    box.stop()


if __name__ == "__main__":
    main()
