"""Signed access tokens (itsdangerous): issue, verify, revoke, and the `token` CLI verb."""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Engine

from queries import tokens_store
from queries.settings import Settings

ROLES: tuple[str, ...] = ("wall", "embed", "leader", "exchange")
_SALT = "dashboard-access-token-v1"


class TokenError(Exception):
    """A token that is missing, forged, expired or revoked (HTTP 401)."""


@dataclass(frozen=True)
class TokenInfo:
    """What a verified token grants."""

    id: str
    region: str
    role: str
    panels: tuple[str, ...] | None
    expires_at: dt.datetime | None

    def allows_region(self, code: str) -> bool:
        """True when `code` is the token's region or inside its subtree."""
        return in_subtree(code, self.region)

    def allows_panel(self, panel: str) -> bool:
        """True when the token has no panel list or lists this panel."""
        return self.panels is None or panel in self.panels


def region_prefix(code: str) -> str:
    """The significant prefix of a 12-digit region code (its subtree shares it)."""
    # Statistical codes: 2 province, 2 city, 2 county, 3 township, 3 community digits.
    for cut in (2, 4, 6, 9):
        if code[cut:] == "0" * (12 - cut):
            return code[:cut]
    return code


def in_subtree(code: str, root: str) -> bool:
    """True when region `code` lies in the subtree of region `root` (by code structure)."""
    if len(code) != 12 or not code.isdigit():
        return False
    return code.startswith(region_prefix(root))


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=_SALT)


def issue(
    engine: Engine, secret: str, region: str, role: str,
    panels: list[str] | None = None, expires_days: float | None = None,
) -> tuple[str, str]:
    """Create, record and sign a token; returns (id, token)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if len(region) != 12 or not region.isdigit():
        raise ValueError("region must be a 12-digit code")
    token_id = secrets.token_hex(8)
    expires_at = None
    if expires_days is not None:
        expires_at = tokens_store.utcnow() + dt.timedelta(days=expires_days)
    tokens_store.add_token(engine, token_id, region, role, panels, expires_at)
    payload = {
        "i": token_id, "r": region, "o": role, "p": panels or None,
        "e": int(expires_at.replace(tzinfo=dt.timezone.utc).timestamp()) if expires_at else None,
    }
    return token_id, _serializer(secret).dumps(payload)


def verify(engine: Engine, secret: str, token: str) -> TokenInfo:
    """Check signature, expiry and revocation; raise TokenError with the reason."""
    if not token or len(token) > 2048:
        raise TokenError("missing token")
    try:
        payload = _serializer(secret).loads(token)
    except BadSignature as err:
        raise TokenError("invalid token signature") from err
    if not isinstance(payload, dict) or not isinstance(payload.get("i"), str):
        raise TokenError("malformed token")
    exp = payload.get("e")
    now = tokens_store.utcnow()
    if exp is not None and now.replace(tzinfo=dt.timezone.utc).timestamp() >= exp:
        raise TokenError("token expired")
    row = tokens_store.get_token(engine, payload["i"])
    if row is None:
        raise TokenError("unknown token")
    if row.revoked_at is not None:
        raise TokenError("token revoked")
    if row.expires_at is not None and now >= row.expires_at:
        raise TokenError("token expired")
    panels = tuple(row.panels.split(",")) if row.panels else None
    return TokenInfo(row.id, row.region_code, row.role, panels, row.expires_at)


def cli(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    """`python -m dashboard token issue|revoke|list`."""
    verb = args.token_verb
    if verb == "list":
        rows = tokens_store.list_tokens(engine)
        print(f"{'id':16}  {'role':8}  {'region':12}  {'panels':20}  {'expires (UTC)':19}  "
              f"{'revoked':7}  last use")
        for r in rows:
            exp = r.expires_at.isoformat(timespec="minutes") if r.expires_at else "never"
            last = (f"{r.last_used_at.isoformat(timespec='seconds')} {r.last_route} "
                    f"{r.last_region or ''}" if r.last_used_at else "-")
            print(f"{r.id:16}  {r.role:8}  {r.region_code:12}  {(r.panels or '*'):20}  "
                  f"{exp:19}  {'yes' if r.revoked_at else 'no':7}  {last}")
        return 0
    if verb == "revoke":
        if tokens_store.revoke_token(engine, args.id):
            print(f"已吊销 (revoked): {args.id}")
            return 0
        print(f"没有这个令牌 (no such token): {args.id}")
        return 1
    if not settings.secret_key:
        print("需要设置 DASHBOARD_SECRET_KEY 才能签发令牌 (DASHBOARD_SECRET_KEY is required "
              "to issue tokens that survive restarts)")
        return 2
    panels = [p.strip() for p in args.panels.split(",") if p.strip()] if args.panels else None
    if panels:
        from layouts import PANEL_IDS

        unknown = [p for p in panels if p not in PANEL_IDS]
        if unknown:
            print(f"未知面板 (unknown panels): {', '.join(unknown)}")
            return 2
    token_id, token = issue(engine, settings.secret_key, args.region, args.role, panels,
                            args.expires)
    print(f"id={token_id} role={args.role} region={args.region} panels={args.panels or '*'} "
          f"expires_days={args.expires if args.expires is not None else 'never'}")
    print(token)
    return 0
