"""Storage of issued access tokens: record, look up, revoke, list, note last use."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select, update

from queries.clock import utcnow
from queries.models import Token


def add_token(
    engine: Engine, token_id: str, region: str, role: str, panels: list[str] | None,
    expires_at: dt.datetime | None,
) -> None:
    """Record a newly issued token."""
    with engine.begin() as conn:
        conn.execute(Token.__table__.insert().values(
            id=token_id, region_code=region, role=role,
            panels=",".join(panels) if panels else None,
            issued_at=utcnow(), expires_at=expires_at, uses=0,
        ))


def get_token(engine: Engine, token_id: str) -> Token | None:
    """The token record with this id, or None."""
    with engine.connect() as conn:
        row = conn.execute(select(Token).where(Token.id == token_id)).first()
    return row  # type: ignore[return-value]


def revoke_token(engine: Engine, token_id: str) -> bool:
    """Mark a token revoked; False when no such token exists."""
    with engine.begin() as conn:
        res = conn.execute(
            update(Token).where(Token.id == token_id, Token.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        if res.rowcount:
            return True
        return conn.execute(select(Token.id).where(Token.id == token_id)).first() is not None


def list_tokens(engine: Engine) -> list[Token]:
    """Every token record, newest first."""
    with engine.connect() as conn:
        return list(conn.execute(select(Token).order_by(Token.issued_at.desc())).all())


def record_use(engine: Engine, token_id: str, route: str, region: str | None) -> None:
    """Overwrite the token's last use (one row per token keeps the audit bounded)."""
    with engine.begin() as conn:
        conn.execute(
            update(Token).where(Token.id == token_id).values(
                last_used_at=utcnow(), last_route=route[:200],
                last_region=(region or None) and region[:12], uses=Token.uses + 1,
            )
        )
