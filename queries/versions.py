"""Versioned snapshot rows (issue 13): which stored rows and items a batch sees.

A full refresh writes every region's row and every item with `batch_id` = its own id and
starts a chain (`refresh_runs.chain_id` = itself). An incremental refresh writes only the
rows and items it changes, with its own id, and closes the ones they replace
(`valid_to` = its id). Batch B of chain C therefore sees the rows with
C <= batch_id <= B that were not replaced by B: its whole snapshot, without a copy.
Pruning deletes what no kept batch can see (queries.refresh.prune).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select, update

from queries.models import RefreshRun


def _chain_select(batch_id: int) -> Any:
    """SELECT the chain of a batch (a batch without chain_id is its own)."""
    return (select(func.coalesce(RefreshRun.chain_id, RefreshRun.id))
            .where(RefreshRun.id == batch_id))


def chain_expr(batch_id: int) -> Any:
    """The chain of a batch as a scalar subquery."""
    return _chain_select(batch_id).scalar_subquery()


def chain_of(conn: Connection, batch_id: int) -> int:
    """The chain (first full batch) of a batch."""
    found = conn.execute(_chain_select(batch_id)).scalar()
    return int(found) if found is not None else batch_id


def visible(table: Any, batch_id: int, chain: int | None = None) -> ColumnElement[bool]:
    """The rows of `table` (snapshot_regions or snapshot_items, a Table or model) that
    batch `batch_id` sees; `chain` when known saves the subquery."""
    c = getattr(table, "__table__", table).c
    start = chain_expr(batch_id) if chain is None else chain
    return and_(c.batch_id >= start, c.batch_id <= batch_id,
                or_(c.valid_to.is_(None), c.valid_to > batch_id))


def close(conn: Connection, table: Any, new_batch: int, chain: int,
          where: ColumnElement[bool]) -> None:
    """Mark the current rows of the chain matching `where` as replaced by new_batch."""
    c = getattr(table, "__table__", table).c
    conn.execute(update(table).where(c.batch_id >= chain, c.valid_to.is_(None), where)
                 .values(valid_to=new_batch))


__all__ = ["chain_expr", "chain_of", "close", "visible"]
