"""Command line: `python -m dashboard [verb]` (SPEC section 1)."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from dashboard import logs
from queries.db import init_db, make_engine
from queries.exchange.kinds import KIND_NAMES as KINDS
from queries.settings import Settings

log = logging.getLogger("dashboard")


def _parse_as_of(value: str | None, tz: str) -> dt.datetime | None:
    """ISO 8601 → aware datetime; naive values are local time in `tz`."""
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as err:
        raise SystemExit(f"--as-of 不是 ISO 8601 时间 (not ISO 8601): {value!r}") from err
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(tz))


def _engine(settings: Settings):  # noqa: ANN202
    engine = make_engine(settings.database_url)
    init_db(engine)
    return engine


def cmd_init_db(args: argparse.Namespace, settings: Settings) -> int:
    """Create or migrate the schema."""
    _engine(settings)
    print(f"数据库已就绪 (schema up to date): {settings.database_url}")
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    """Import one exchange file and report read / imported / rejected."""
    from queries.importer import import_file

    engine = _engine(settings)
    result = import_file(
        engine, args.kind, Path(args.file), rejects_path=args.as_rejects, tz=settings.timezone
    )
    print(
        f"{args.kind}: 读取 {result.read} 行, 导入 {result.imported}, 拒绝 {result.rejected} "
        f"(read {result.read}, imported {result.imported}, rejected {result.rejected})"
    )
    for warning in getattr(result, "warnings", None) or []:
        print(f"提示 (warning): {warning}", file=sys.stderr)
    if result.error:
        print(f"错误 (error): {result.error}", file=sys.stderr)
    if result.rejects_path and result.rejected:
        print(f"被拒绝的行及原因见 (rejected rows with reasons): {result.rejects_path}")
    return result.exit_code


def cmd_demo_data(args: argparse.Namespace, settings: Settings) -> int:
    """Write the synthetic data set in exchange format and (unless --out) import it."""
    from demo import generator as demo

    if args.out:
        files = demo.generate_demo(Path(args.out), root=args.root, scale=args.scale,
                                   seed=args.seed)
        for kind, path in files:
            print(f"{kind}: {path}")
        return 0
    engine = _engine(settings)
    results = demo.load_demo(engine, root=args.root, scale=args.scale, seed=args.seed,
                             tz=settings.timezone, progress=None, log=print)
    return max((r.exit_code for r in results), default=0)


def cmd_refresh(args: argparse.Namespace, settings: Settings) -> int:
    """Run one aggregation now."""
    from queries.refresh import refresh

    engine = _engine(settings)
    outcome = refresh(engine, as_of=_parse_as_of(args.as_of, settings.timezone),
                      tz=settings.timezone, full=args.full)
    if outcome.status != "ok":
        print(f"刷新失败，上一批数据继续使用 (refresh failed; previous snapshot stays): "
              f"{outcome.error}", file=sys.stderr)
        return 1
    secs = (outcome.finished_at - outcome.started_at).total_seconds()
    print(f"刷新完成 (refresh ok): batch {outcome.batch_id}, {outcome.rows} 个区域, {secs:.2f} s")
    return 0


def _serve(settings: Settings, host: str, port: int, scheduler: bool) -> int:
    from dashboard.app import create_app

    app = create_app({f: getattr(settings, f) for f in ("database_url", "secret_key", "auth")})
    sched = None
    if scheduler:
        from scheduler import start_background

        sched = start_background(settings)
    print(f"就业服务大屏已启动 (serving): http://{host}:{port}/")
    try:
        app.run(host=host, port=port, debug=False)
    finally:
        if sched is not None:
            sched.shutdown(wait=False)
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the app with the development server (and the scheduler unless disabled)."""
    _engine(settings)
    return _serve(settings, args.host, args.port, not args.no_scheduler)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """The demo: database, demo data if empty, one refresh, scheduler, server."""
    from demo import generator as demo
    from queries.models import Region
    from queries.refresh import refresh

    engine = _engine(settings)
    with engine.connect() as conn:
        empty = conn.execute(select(func.count()).select_from(Region)).scalar_one() == 0
    if empty:
        print("首次运行：正在生成并导入演示数据 (loading demo data)…")
        demo.load_demo(engine, root=settings.root_region, tz=settings.timezone, log=print)
    outcome = refresh(engine, tz=settings.timezone)
    print(f"刷新 (refresh): {outcome.status}, {outcome.rows} 个区域")
    return _serve(settings, args.host, args.port, True)


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    """Issue, revoke or list access tokens."""
    from dashboard import tokens

    return tokens.cli(args, settings, _engine(settings))


def cmd_outbox(args: argparse.Namespace, settings: Settings) -> int:
    """List undelivered outbound events, or queue events to be sent again (SPEC 7)."""
    from queries import outbox

    engine = _engine(settings)
    if args.outbox_verb == "retry":
        if not args.ids and not args.dead:
            print("错误 (error): 请给出事件 ID 或 --dead (give event ids or --dead)",
                  file=sys.stderr)
            return 2
        n = outbox.retry(engine, args.ids, dead=args.dead)
        print(f"已重新排队 {n} 个事件 (queued {n} events to be sent again)")
        return 0 if n or args.dead else 1
    c = outbox.counts(engine)
    print(f"待发送 {c['pending']}, 已送达 {c['delivered']}, 失败停放 {c['dead']} "
          f"(pending {c['pending']}, delivered {c['delivered']}, dead {c['dead']})")
    rows = outbox.list_events(engine, dead_only=args.dead, limit=args.limit)
    if rows:
        print("id\tevent_id\ttopic\tstate\tattempts\tcreated_at (UTC)\tnext_attempt_at "
              "(UTC)\tlast_error")
    for r in rows:
        nxt = r["next_attempt_at"].isoformat(timespec="seconds") if r["next_attempt_at"] else "-"
        print(f"{r['id']}\t{r['event_id']}\t{r['topic']}\t{r['state']}\t{r['attempts']}\t"
              f"{r['created_at'].isoformat(timespec='seconds')}\t{nxt}\t"
              f"{(r['last_error'] or '-')[:120]}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of every verb."""
    p = argparse.ArgumentParser(
        prog="python -m dashboard",
        description="社区就业服务 LED 大屏 (三公里就业圈). Without a verb: run the demo.",
    )
    p.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=8050, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="verb")

    s = sub.add_parser("serve", help="serve the app (development server)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8050)
    s.add_argument("--no-scheduler", action="store_true", help="do not run the refresh job here")
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("init-db", help="create or migrate the schema")
    s.set_defaults(func=cmd_init_db)

    s = sub.add_parser("demo-data", help="write (and import) a synthetic data set")
    s.add_argument("--root", default=None, help="region code, default DASHBOARD_ROOT_REGION")
    s.add_argument("--scale", type=float, default=1.0, help="multiply volumes")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", default=None, help="only write the files into DIR")
    s.set_defaults(func=cmd_demo_data)

    s = sub.add_parser("import", help="import one exchange file (CSV, XLSX, JSON Lines)")
    s.add_argument("kind", choices=KINDS)
    s.add_argument("file")
    s.add_argument("--as-rejects", default=None, metavar="PATH",
                   help="where to write rejected rows (default FILE.rejects.csv)")
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("refresh", help="run one aggregation now")
    s.add_argument("--as-of", default=None, help="ISO 8601 instant taken as now")
    s.add_argument("--full", action="store_true",
                   help="recompute every region from scratch (else only what changed)")
    s.set_defaults(func=cmd_refresh)

    s = sub.add_parser("outbox", help="outbound events for the provincial platform")
    osub = s.add_subparsers(dest="outbox_verb", required=True)
    o = osub.add_parser("list", help="undelivered events (pending and dead)")
    o.add_argument("--dead", action="store_true", help="only dead (parked) events")
    o.add_argument("--limit", type=int, default=100, help="at most this many rows")
    o = osub.add_parser("retry", help="send events again (attempts start from zero)")
    o.add_argument("ids", nargs="*", metavar="ID", help="event id (number or event_id)")
    o.add_argument("--dead", action="store_true", help="every dead event")
    s.set_defaults(func=cmd_outbox)

    s = sub.add_parser("token", help="access tokens")
    tsub = s.add_subparsers(dest="token_verb", required=True)
    t = tsub.add_parser("issue", help="issue a token")
    t.add_argument("--region", required=True)
    t.add_argument("--role", required=True, choices=("wall", "embed", "leader", "exchange"))
    t.add_argument("--panels", default=None, help="comma list of panel ids")
    t.add_argument("--expires", type=float, default=None, help="days until expiry")
    t = tsub.add_parser("revoke", help="revoke a token")
    t.add_argument("id")
    tsub.add_parser("list", help="list tokens")
    s.set_defaults(func=cmd_token)
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the verb; errors print a message, never a traceback."""
    logs.configure()  # one line per event: time, level, request id; tokens scrubbed
    args = build_parser().parse_args(argv)
    overrides = {}
    if getattr(args, "verb", None) is None:
        overrides["demo"] = True
    settings = Settings.from_env(**overrides)
    if getattr(args, "root", None) is None and hasattr(args, "root"):
        args.root = settings.root_region
    try:
        if args.verb is None:
            return cmd_demo(args, settings.with_secret())
        if args.verb in ("serve",):
            settings = settings.with_secret()
        return args.func(args, settings)
    except KeyboardInterrupt:
        return 130
    except SystemExit:
        raise
    except Exception as err:  # noqa: BLE001 - a CLI user gets a message, the log gets details
        log.debug("command failed", exc_info=True)
        print(f"错误 (error): {type(err).__name__}: {err}", file=sys.stderr)
        return 1
