"""Report benchmark: a year of a busy Page, the yearly report, ours against a naive one.

Run from the repository root::

    .venv/bin/python bench/bench_report.py                 # 3,000 publications, 100,000 snapshots
    .venv/bin/python bench/bench_report.py --pubs 600 --snapshots 20000   # quick look
    .venv/bin/python bench/bench_report.py --database-url postgresql+psycopg://...  # PostgreSQL

It generates into a temporary SQLite database (bulk inserts, a few seconds): 60 agencies,
``--pubs`` publications over the year (half Facebook, half Zalo, in pairs as posts),
``--snapshots`` engagement snapshots spread over them, and about 60 % of the expected
agency shares (``--last-year`` adds as much again for the year before, which the report
compares with). Then it times, in the same run and on the same data:

(a) ours: ``build_report`` + ``write_report`` for the year to date, everything the
    ``report`` command writes: the workbook (summary, comparison with last year, month
    by month, per post, per agency, plan, agency × month, the chart embedded), seven CSV
    files, the month chart (PNG) and the formal report (.docx with its tables and the
    chart), each written to a temporary name and renamed; one window-function query for
    the last snapshot of every publication, one for the shares, and the same for the
    comparison period;
(b) naive: the same figures gathered the obvious ORM way: for each publication, a query
    for its last snapshot before the year ended, and for each post × agency a query for
    the share (the data only, no files written), and checks both give the same totals.

Wall and CPU time are both printed: on a loaded machine the wall time can be a few times
the CPU time. The run fails (exit 1) only if both exceed the 5 s target.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from social_publisher.config import load_settings  # noqa: E402
from social_publisher.services.agencies import GROUPS, AgencyRow, sync_agencies  # noqa: E402
from social_publisher.services.report import Period, build_report, write_report  # noqa: E402
from social_publisher.store import (  # noqa: E402
    Database,
    EngagementSnapshot,
    Post,
    PostVersion,
    Publication,
    Share,
)

YEAR = 2024


def generate(
    db: Database,
    *,
    pubs: int,
    snapshots: int,
    agencies: int,
    seed: int,
    year: int = YEAR,
    first_id: int = 0,
) -> None:
    rng = random.Random(seed + year)
    now = datetime(year, 11, 18, 2, 0, tzinfo=UTC)
    groups = list(GROUPS)
    rows = [
        AgencyRow(f"don-vi-{i:02d}", f"Đơn vị số {i:02d}", groups[i % len(groups)])
        for i in range(agencies)
    ]
    if not first_id:
        sync_agencies(db, Path("agencies.csv"), rows, now=datetime(year, 1, 1, tzinfo=UTC))
    n_posts = pubs // 2
    start = datetime(year, 1, 1, 1, 0, tzinfo=UTC)
    span = (now - start).total_seconds() - 86400
    times = sorted(start + timedelta(seconds=rng.uniform(0, span)) for _ in range(n_posts))
    with db.engine.begin() as conn:
        conn.execute(
            insert(Post),
            [
                {
                    "id": first_id + i + 1,
                    "folder": f"{t:%Y-%m-%d}-bai-{first_id + i}",
                    "title": f"Bài chuyển đổi số số {i}",
                    "publish_at": t,
                    "channels": ["facebook", "zalo"],
                    "state": "ready",
                    "first_seen_at": t,
                    "updated_at": t,
                }
                for i, t in enumerate(times)
            ],
        )
        conn.execute(
            insert(PostVersion),
            [
                {
                    "id": first_id + i + 1,
                    "post_id": first_id + i + 1,
                    "content_hash": f"{first_id + i:064x}",
                    "source_file": "bai-viet.txt",
                    "title": f"Bài chuyển đổi số số {i}",
                    "body": "Nội dung",
                    "publish_at": t,
                    "channels": ["facebook", "zalo"],
                    "share_with": [rng.choice(["tat-ca", "xa-phuong", "phong-ban"])],
                    "created_at": t,
                }
                for i, t in enumerate(times)
            ],
        )
        pub_rows = []
        for i, t in enumerate(times):
            for j, channel in enumerate(("facebook", "zalo")):
                pub_rows.append(
                    {
                        "id": 2 * (first_id + i) + j + 1,
                        "post_id": first_id + i + 1,
                        "channel": channel,
                        "state": "confirmed",
                        "version_id": first_id + i + 1,
                        "remote_id": f"1000_{first_id + i}"
                        if channel == "facebook"
                        else f"art{first_id + i}",
                        "remote_url": f"https://www.facebook.com/1000/posts/{first_id + i}"
                        if channel == "facebook"
                        else f"https://zalo.me/a/{first_id + i}",
                        "published_at": t + timedelta(minutes=5 * j),
                        "created_at": t,
                        "updated_at": t,
                        "attempt_count": 1,
                    }
                )
        conn.execute(insert(Publication), pub_rows)
        snaps = []
        per_pub = max(1, snapshots // len(pub_rows))
        for pub in pub_rows:
            t = pub["published_at"]
            fb = pub["channel"] == "facebook"
            for k in range(per_pub):
                taken = t + timedelta(hours=1) + timedelta(days=k * 3)
                if taken > now:
                    taken = now - timedelta(minutes=k)
                snaps.append(
                    {
                        "publication_id": pub["id"],
                        "taken_at": taken,
                        "reactions": rng.randint(0, 500) if fb else None,
                        "comments": rng.randint(0, 50) if fb else None,
                        "shares": rng.randint(0, 30),
                        "views": rng.randint(0, 20000),
                        "reach": rng.randint(0, 9000) if fb else None,
                        "raw": {},
                    }
                )
        for start_i in range(0, len(snaps), 20000):
            conn.execute(insert(EngagementSnapshot), snaps[start_i : start_i + 20000])
        share_rows = []
        for pub in pub_rows:
            if pub["channel"] != "facebook":
                continue
            for a in rows:
                if rng.random() < 0.6:
                    share_rows.append(
                        {
                            "publication_id": pub["id"],
                            "agency_id": a.id,
                            "url": f"https://www.facebook.com/{a.id}/posts/{pub['id']}",
                            "shared_at": pub["published_at"]
                            + timedelta(hours=rng.choice([1, 5, 20, 30, 80])),
                            "source": rng.choice(["feed", "manual"]),
                            "verified": True,
                            "recorded_at": now,
                        }
                    )
        conn.execute(insert(Share), share_rows)


def naive_totals(db: Database, period: Period) -> dict[str, Any]:
    """The obvious way: one query per publication, one per post × agency."""
    from social_publisher.store import Agency

    totals: dict[str, dict[str, int]] = {"facebook": {}, "zalo": {}}
    shares = 0
    with db.session() as s:
        pubs = s.scalars(
            select(Publication).where(
                Publication.published_at >= period.start,
                Publication.published_at < period.end,
                Publication.state.in_(("published", "confirmed")),
            )
        ).all()
        agencies = s.scalars(select(Agency)).all()
        for pub in pubs:
            last = s.scalars(
                select(EngagementSnapshot)
                .where(
                    EngagementSnapshot.publication_id == pub.id,
                    EngagementSnapshot.taken_at < period.end,
                )
                .order_by(EngagementSnapshot.taken_at.desc(), EngagementSnapshot.id.desc())
                .limit(1)
            ).first()
            if last is not None:
                for metric in ("reactions", "comments", "shares", "views", "reach"):
                    value = getattr(last, metric)
                    if value is not None:
                        bucket = totals[pub.channel]
                        bucket[metric] = bucket.get(metric, 0) + value
            if pub.channel == "facebook":
                for agency in agencies:
                    found = s.scalars(
                        select(Share).where(
                            Share.publication_id == pub.id, Share.agency_id == agency.id
                        )
                    ).first()
                    shares += found is not None
    return {"totals": totals, "shares": shares}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pubs", type=int, default=3000)
    parser.add_argument("--snapshots", type=int, default=100_000)
    parser.add_argument("--agencies", type=int, default=60)
    parser.add_argument("--seed", type=int, default=2011)
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--skip-naive", action="store_true", help="time ours only")
    parser.add_argument(
        "--last-year",
        action="store_true",
        help="also generate as much data for the year before (the comparison reads it)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        settings = load_settings(
            {"DATABASE_URL": url, "TIMEZONE": "Asia/Ho_Chi_Minh"}, dotenv_path=None
        )
        db = Database(url)
        db.upgrade()
        t0 = time.perf_counter()
        sizes = {"pubs": args.pubs, "snapshots": args.snapshots, "agencies": args.agencies}
        generate(db, **sizes, seed=args.seed)
        if args.last_year:
            generate(db, **sizes, seed=args.seed, year=YEAR - 1, first_id=args.pubs)
        gen = time.perf_counter() - t0
        print(
            f"data: {args.pubs:,} publications, {args.snapshots:,} snapshots, "
            f"{args.agencies} agencies"
            + (" (and as much for the year before)" if args.last_year else "")
            + f" generated in {gen:.1f} s ({db.dialect})"
        )
        period = Period(YEAR, None, settings.tz)
        now = datetime(YEAR, 11, 18, 2, 0, tzinfo=UTC)

        t0, c0 = time.perf_counter(), time.process_time()
        data = build_report(db, settings, period, now=now)
        t_build, c_build = time.perf_counter() - t0, time.process_time() - c0
        output = write_report(data, Path(tmp) / "out")
        t_ours, c_ours = time.perf_counter() - t0, time.process_time() - c0
        steps = ", ".join(f"{k} {v:.2f}" for k, v in output.timings.items())
        print(
            f"ours:  yearly report in {t_ours:.2f} s wall, {c_ours:.2f} s CPU "
            f"(data {t_build:.2f} s, files {t_ours - t_build:.2f} s: {steps})"
        )
        print(
            f"       wrote {output.workbook.stat().st_size / 1e6:.1f} MB workbook "
            f"({len(data.buckets)} months, chart embedded), "
            f"{output.document.stat().st_size / 1e6:.1f} MB document, "
            f"{len(output.csv_files)} CSV, chart; compared with "
            + ", ".join(f.label for _, f in data.comparisons)
        )
        if args.skip_naive:
            db.dispose()
            return

        t0, c0 = time.perf_counter(), time.process_time()
        naive = naive_totals(db, period)
        t_naive, c_naive = time.perf_counter() - t0, time.process_time() - c0
        print(
            f"naive: the same figures alone (no files) in {t_naive:.2f} s wall, "
            f"{c_naive:.2f} s CPU ({c_naive / max(c_build, 1e-9):.0f}× our data step)"
        )

        for channel in ("facebook", "zalo"):
            ours = {k: v for k, v in data.totals[channel].values.items() if v is not None}
            assert ours == naive["totals"][channel], (channel, ours, naive["totals"][channel])
        total = data.matrix.total
        assert total.on_time + total.late <= naive["shares"]
        print("check: totals identical in both approaches")
        db.dispose()
        if min(t_ours, c_ours) > 5:
            print(f"SLOW: yearly report took {t_ours:.2f} s (target < 5 s)")
            sys.exit(1)


if __name__ == "__main__":
    main()
