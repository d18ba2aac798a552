"""One database, many units: every unit-owned row carries ``unit_id``, and a session knows
its unit.

A session made by a unit's :class:`~.db.Database` handle (``session.info["unit"]``) sees
only that unit's rows, in every ORM query, join, lazy load, UPDATE and DELETE
(:func:`sqlalchemy.orm.with_loader_criteria` on :class:`UnitOwned`), and the rows it adds
are stamped with its unit at flush. So a service written for one office cannot read, claim
or count another unit's post by forgetting a ``WHERE``: isolation is the session's, not
each query's. An install-wide session (unit None: the cluster's claim order, the province
report's summary, a province account in the console) reads every unit, and a row it adds
must name its unit; a row with none is refused at flush rather than filed under a guess.

Core statements on ``Table`` objects (``store.bulk``) are not ORM statements: they name
``unit_id`` themselves.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, event
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column, with_loader_criteria

from ..errors import StoreError
from ..units import DEFAULT_UNIT_ID

#: the unit of an install without a units file (and of every row an older release made)
DEFAULT_UNIT = DEFAULT_UNIT_ID
#: ``meta`` rows that belong to the install, not to a unit (the console's session key...)
INSTALL = ""
#: execution option: this ORM statement reads across units even in a unit's session
ALL_UNITS = "all_units"


class UnitOwned:
    """Mixin of every table whose rows belong to one unit."""

    unit_id: Mapped[str] = mapped_column(String(100), index=True)


def install_options() -> dict[str, Any]:
    """``execution_options`` of a read of the install's own rows from any session."""
    return {ALL_UNITS: True}


def unit_of(session: Session) -> str | None:
    """The unit ``session`` belongs to (None: the install-wide view)."""
    unit: str | None = session.info.get("unit")
    return unit


def unit_key(session: Session, *parts: Any) -> tuple[Any, ...]:
    """The primary key of a row keyed by (unit, ...) for ``session.get``, in its unit."""
    unit = unit_of(session)
    if unit is None:
        raise StoreError("internal: an install-wide session looked a unit's row up by key")
    return (unit, *parts)


@event.listens_for(Session, "do_orm_execute")
def _only_this_unit(state: ORMExecuteState) -> None:
    unit = unit_of(state.session)
    if unit is None or state.execution_options.get(ALL_UNITS, False):
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    state.statement = state.statement.options(
        with_loader_criteria(
            UnitOwned,
            lambda cls: cls.unit_id == unit,
            include_aliases=True,
            propagate_to_loaders=True,
        )
    )


@event.listens_for(Session, "before_flush")
def _stamp_new_rows(session: Session, flush_context: Any, instances: Any) -> None:
    unit = unit_of(session)
    for row in session.new:
        if not isinstance(row, UnitOwned):
            continue
        if row.unit_id is None:
            if unit is None:
                raise StoreError(
                    f"internal: a {type(row).__name__} row added install-wide names no unit"
                )
            row.unit_id = unit
        elif unit is not None and row.unit_id not in (unit, INSTALL):
            raise StoreError(
                f"internal: unit {unit!r} tried to add a {type(row).__name__} row of "
                f"unit {row.unit_id!r}"
            )
