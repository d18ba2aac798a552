"""A unit's database handle sees and writes only that unit's rows (store.tenancy)."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select, update

from social_publisher.errors import StoreError
from social_publisher.store import ChannelHealth, Database, Post, Publication
from social_publisher.store.tenancy import ALL_UNITS, DEFAULT_UNIT, unit_key


def _seed(db: Database, unit: str, title: str) -> int:
    with db.for_unit(unit).session() as s:
        post = Post(folder="bai-chung", title=title)
        s.add(post)
        s.flush()
        s.add(Publication(post_id=post.id, channel="facebook", state="pending"))
        s.add(ChannelHealth(channel="facebook", state="ok"))
        return post.id


def test_the_default_handle_is_the_default_unit(db: Database) -> None:
    assert db.unit == DEFAULT_UNIT
    with db.session() as s:
        s.add(Post(folder="a", title="a"))
    with db.everywhere().session() as s:
        assert s.scalars(select(Post.unit_id)).one() == DEFAULT_UNIT


def test_queries_joins_lazy_loads_updates_and_deletes_stay_in_the_unit(db: Database) -> None:
    a, b = _seed(db, "a", "của A"), _seed(db, "b", "của B")
    unit_a = db.for_unit("a")
    with unit_a.session() as s:
        assert [p.title for p in s.scalars(select(Post))] == ["của A"]
        joined = s.scalars(select(Post.title).join(Publication)).all()
        assert joined == ["của A"]
        assert s.get(Post, b) is None  # another unit's id is not found, even by key
        post = s.get_one(Post, a)
        assert [p.channel for p in post.publications] == ["facebook"]
        assert s.scalar(select(func.count(ChannelHealth.channel))) == 1
        s.execute(update(Publication).values(state="retry_wait"))
        s.execute(delete(ChannelHealth))
    with db.for_unit("b").session() as s:
        assert s.scalars(select(Publication.state)).one() == "pending"
        assert s.get(ChannelHealth, unit_key(s, "facebook")) is not None
    with db.everywhere().session() as s:
        assert s.scalar(select(func.count(Post.id))) == 2
        assert set(s.scalars(select(Publication.state))) == {"retry_wait", "pending"}
    with unit_a.session() as s:  # an explicit install-wide read, for the cluster's order
        every = s.scalars(select(Post.title).execution_options(**{ALL_UNITS: True})).all()
        assert sorted(every) == ["của A", "của B"]


def test_rows_are_stamped_and_a_unit_never_writes_another_units_row(db: Database) -> None:
    with db.for_unit("a").session() as s:
        post = Post(folder="x", title="x")
        s.add(post)
        s.flush()
        assert post.unit_id == "a"
    refused = pytest.raises(StoreError, match="unit 'a' tried to add a Post row of unit 'b'")
    with refused, db.for_unit("a").session() as s:
        s.add(Post(unit_id="b", folder="y", title="y"))
    with pytest.raises(StoreError, match="names no unit"), db.everywhere().session() as s:
        s.add(Post(folder="z", title="z"))
    with db.everywhere().session() as s:
        s.add(Post(unit_id="c", folder="z", title="z"))
    with db.for_unit("c").session() as s:
        assert s.scalars(select(Post.folder)).one() == "z"
