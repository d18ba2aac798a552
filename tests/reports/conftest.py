"""Helpers for the reports area: live publications, snapshots and agencies, straight in the DB."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from social_publisher.config import Settings
from social_publisher.services.agencies import load_agencies
from social_publisher.store import (
    Database,
    EngagementSnapshot,
    Post,
    PostVersion,
    Publication,
    PubState,
    Share,
)

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PAGE_ID = "1000001"

AGENCIES_CSV = """id,name,group,fb_page_id,fb_page_url,zalo_oa_id,token_setting
phuong-pho-hoa,UBND phường Phổ Hòa,xa-phuong,2000001,https://www.facebook.com/phuongphohoa,,FB_TOKEN_PHO_HOA
phuong-nguyen-nghiem,UBND phường Nguyễn Nghiêm,xa-phuong,2000002,https://www.facebook.com/nguyennghiem,,
xa-pho-an,UBND xã Phổ An,xa-phuong,,https://www.facebook.com/profile.php?id=2000003,zoa-pho-an,
thi-doan-duc-pho,Thị đoàn Đức Phổ,doan-the,2000004,,,
"""


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)  # type: ignore[misc]


def add_post(
    db: Database,
    folder: str,
    title: str,
    published_at: datetime,
    *,
    channels: Sequence[str] = ("facebook", "zalo"),
    share_with: Sequence[str] = (),
    state: str = PubState.CONFIRMED.value,
    remote_ids: dict[str, str] | None = None,
    remote_urls: dict[str, str] | None = None,
) -> dict[str, int]:
    """A post live on ``channels`` at ``published_at``; returns channel → publication id."""
    digest = hashlib.sha256(folder.encode()).hexdigest()
    with db.session() as s:
        post = Post(folder=folder, title=title, publish_at=published_at, channels=list(channels))
        s.add(post)
        s.flush()
        version = PostVersion(
            post_id=post.id,
            content_hash=digest,
            source_file="bai-viet.txt",
            title=title,
            body="Nội dung",
            publish_at=published_at,
            channels=list(channels),
            approved_by="Võ Thanh Hùng",
            share_with=list(share_with),
        )
        s.add(version)
        s.flush()
        post.current_version_id = version.id
        ids: dict[str, int] = {}
        for channel in channels:
            if remote_ids and channel in remote_ids:
                remote_id = remote_ids[channel]
                url = (
                    f"https://www.facebook.com/{remote_id.replace('_', '/posts/')}"
                    if channel == "facebook"
                    else f"https://zalo.me/article/{remote_id}"
                )
            elif channel == "facebook":
                remote_id = f"{PAGE_ID}_{int(digest[:10], 16)}"
                url = f"https://www.facebook.com/{PAGE_ID}/posts/{remote_id.split('_')[1]}"
            else:
                remote_id = f"art{digest[:12]}"
                url = f"https://zalo.me/article/{remote_id}"
            if remote_urls and channel in remote_urls:
                url = remote_urls[channel]
            pub = Publication(
                post_id=post.id,
                channel=channel,
                state=state,
                version_id=version.id,
                content_hash=digest,
                approved_by="Võ Thanh Hùng",
                due_at=published_at,
                remote_id=remote_id,
                remote_url=url,
                published_at=published_at,
            )
            s.add(pub)
            s.flush()
            ids[channel] = pub.id
    return ids


def add_snapshot(
    db: Database,
    publication_id: int,
    taken_at: datetime,
    *,
    reactions: int | None = None,
    comments: int | None = None,
    shares: int | None = None,
    views: int | None = None,
    reach: int | None = None,
) -> None:
    with db.session() as s:
        s.add(
            EngagementSnapshot(
                publication_id=publication_id,
                taken_at=taken_at,
                reactions=reactions,
                comments=comments,
                shares=shares,
                views=views,
                reach=reach,
            )
        )


def remote_id_of(db: Database, publication_id: int) -> str:
    with db.session() as s:
        pub = s.get(Publication, publication_id)
        assert pub is not None and pub.remote_id
        return pub.remote_id


@pytest.fixture
def agencies_file(settings: Settings) -> Path:
    path = Path(settings.agencies_file)
    path.write_text(AGENCIES_CSV, encoding="utf-8")
    return path


@pytest.fixture
def loaded(db: Database, settings: Settings, agencies_file: Path) -> Database:
    """The DB with the four test agencies loaded (first load: known since always)."""
    load_agencies(db, settings, now=local(2024, 9, 1, 8, 0))
    return db


OFFICE_TITLES = (
    "Hướng dẫn cài đặt và kích hoạt tài khoản định danh điện tử VNeID mức độ 2",
    "Dùng căn cước công dân gắn chíp thay thẻ bảo hiểm y tế khi khám chữa bệnh",
    "Hộ kinh doanh chuyển sang hóa đơn điện tử khởi tạo từ máy tính tiền",
    "Tổ công nghệ số cộng đồng phường Phổ Văn hỗ trợ người dân nộp hồ sơ trực tuyến",
    "Thanh toán không dùng tiền mặt tại chợ Đức Phổ",
    "Cảnh giác với cuộc gọi mạo danh cơ quan công an yêu cầu cài ứng dụng lạ",
    "Dịch vụ công trực tuyến toàn trình: đăng ký khai sinh tại nhà",
    "Hội nghị triển khai Đề án 06 trên địa bàn thị xã",
    "Ngày Chuyển đổi số quốc gia 10/10: các hoạt động hưởng ứng",
    "Nông dân Phổ Phong bán nông sản trên sàn thương mại điện tử",
)


def seed_office(
    db: Database,
    settings: Settings,
    *,
    until: datetime,
    since: datetime | None = None,
    seed: int = 2024,
) -> dict[str, int]:
    """A realistic office: the example agencies.csv, two posts a week from ``since``
    (September 2023), engagement snapshots, and two thirds of the agencies sharing each post.

    Returns counts of what it made (posts, publications, snapshots, shares)."""
    from social_publisher.services.agencies import parse_agencies, sync_agencies

    rng = random.Random(seed)
    repo_agencies = Path(__file__).parents[2] / "agencies.csv"
    rows = parse_agencies(repo_agencies)
    sync_agencies(db, repo_agencies, rows, now=local(2023, 1, 1))
    at = since or local(2023, 9, 4, 7, 30)
    made = {"posts": 0, "publications": 0, "snapshots": 0, "shares": 0}
    i = 0
    while at < until:
        channels = ("facebook",) if i % 5 == 4 else ("facebook", "zalo")
        title = OFFICE_TITLES[i % len(OFFICE_TITLES)]
        ids = add_post(db, f"{at:%Y-%m-%d}-bai-{i}", title, at, channels=channels)
        made["posts"] += 1
        with db.session() as s:
            for channel, pid in ids.items():
                made["publications"] += 1
                for hours in (1, 24, 24 * 7):
                    taken = at + timedelta(hours=hours)
                    if taken >= until:
                        break
                    grow = hours**0.3
                    fb = channel == "facebook"
                    s.add(
                        EngagementSnapshot(
                            publication_id=pid,
                            taken_at=taken,
                            reactions=int(rng.randint(20, 400) * grow) if fb else None,
                            comments=int(rng.randint(0, 40) * grow) if fb else None,
                            shares=int(rng.randint(0, 30) * grow),
                            views=int(rng.randint(300, 6000) * grow),
                            reach=int(rng.randint(200, 4000) * grow) if fb else None,
                        )
                    )
                    made["snapshots"] += 1
                if channel != "facebook":
                    continue
                for row in rows:
                    if rng.random() < 0.68:
                        shared_at = at + timedelta(hours=rng.choice([1, 2, 5, 9, 20, 30, 70]))
                        if shared_at >= until:
                            continue
                        s.add(
                            Share(
                                publication_id=pid,
                                agency_id=row.id,
                                url=f"https://www.facebook.com/{row.id}/posts/{pid}",
                                shared_at=shared_at,
                                source="manual",
                                verified=True,
                                recorded_at=shared_at,
                            )
                        )
                        made["shares"] += 1
        i += 1
        at += timedelta(days=3 if i % 2 else 4, hours=rng.choice([0, 1, 2, 7]))
    return made


class Helpers:
    """The helpers above as a fixture (test modules cannot import conftest under importlib mode)."""

    TZ = TZ
    PAGE_ID = PAGE_ID
    AGENCIES_CSV = AGENCIES_CSV
    local = staticmethod(local)
    add_post = staticmethod(add_post)
    add_snapshot = staticmethod(add_snapshot)
    remote_id_of = staticmethod(remote_id_of)
    seed_office = staticmethod(seed_office)


@pytest.fixture
def h() -> type[Helpers]:
    return Helpers
