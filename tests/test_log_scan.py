"""Log output as production writes it (SPEC 9): one line per event with time, level and
request id, and never a token, identity number, mobile number or name.

The scenario plants known personal data (names, identity and mobile numbers in import files
and exchange records) and known tokens (in query strings, Authorization headers, a revoked
one, a forged one), provokes warnings and a logged traceback, then reads every written line.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from pathlib import Path

from dashboard import logs
from dashboard.app import create_app
from dashboard.tokens import issue
from queries.db import init_db, make_engine
from queries.exchange.pipeline import import_file
from queries.refresh import refresh
from queries.tokens_store import revoke_token
from tests.test_metrics_handmade import AS_OF, TZ, A1a, load

SECRET = "log-scan-secret"
NAMES = ("王小明", "李秀英")
ID_NUMBERS = ("11010519491231002X", "110105194912310021")  # valid; bad check character
MOBILES = ("13912345678", "15800001111")
LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) "
    r"(-|[A-Za-z0-9._-]{8,64}) \S+: .*$")


def test_written_log_lines_carry_no_secret_and_one_event_each(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = make_engine(url)
    init_db(engine)
    load(engine)
    out = io.StringIO()
    handler = logs.handler(out)
    counted: list[logging.LogRecord] = []
    counter = logging.Handler()
    counter.emit = counted.append  # type: ignore[method-assign]
    root = logging.getLogger()
    root.addHandler(handler)
    root.addHandler(counter)
    try:
        _scenario(url, engine, tmp_path)
    finally:
        root.removeHandler(handler)
        root.removeHandler(counter)
    text = out.getvalue()
    lines = text.splitlines()
    assert len(lines) == len(counted) >= 5, text  # one line per event, tracebacks folded
    for line in lines:
        assert LINE.match(line), line
    for secret in (*NAMES, *ID_NUMBERS, *MOBILES, *_scenario.tokens):  # type: ignore[attr-defined]
        assert secret not in text, f"{secret[:8]}… written to the log"
    assert "Traceback" in text  # the failure's traceback is there, on its own line
    # A request's lines carry the id the response announced.
    assert f"INFO {_scenario.request_id} dashboard.test: inside a request" in text  # type: ignore[attr-defined]
    assert "INFO nginx-request-0001 dashboard.test: inside a request" in text


def _scenario(url: str, engine, tmp_path: Path) -> None:  # noqa: ANN001
    app = create_app({"database_url": url, "auth": True, "secret_key": SECRET})
    client = app.server.test_client()
    leader_id, leader = issue(engine, SECRET, "340100000000", "leader")
    _wid, wall = issue(engine, SECRET, "340100000000", "wall")
    _xid, exchange = issue(engine, SECRET, "340100000000", "exchange")
    revoked_id, revoked = issue(engine, SECRET, "340100000000", "leader")
    revoke_token(engine, revoked_id)
    _scenario.tokens = (leader, wall, exchange, revoked)  # type: ignore[attr-defined]

    # Files with names, identity and mobile numbers: one good row, one rejected.
    path = tmp_path / "persons.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["person_id", "community_code", "id_number", "姓名", "手机号", "status",
                    "seeking_job"])
        w.writerow(["p1", A1a, ID_NUMBERS[0], NAMES[0], MOBILES[0], "unemployed", "1"])
        w.writerow(["p2", A1a, ID_NUMBERS[1], NAMES[1], MOBILES[1], "unemployed", "1"])
    result = import_file(engine, "persons", path, tz=TZ, progress=False)
    assert (result.imported, result.rejected) == (1, 1)
    logging.getLogger("dashboard.test").info("import of %s: %s", path.name, result.rejected)

    def probe() -> str:
        logging.getLogger("dashboard.test").info("inside a request")
        return "ok"

    app.server.add_url_rule("/_probe", view_func=probe)
    resp = client.get("/_probe", headers={"X-Request-ID": "nginx-request-0001"})
    assert resp.headers["X-Request-ID"] == "nginx-request-0001"  # nginx's id is kept
    resp = client.get("/_probe", headers={"X-Request-ID": "bad id; DROP TABLE"})
    rid = resp.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid)  # a malformed one is replaced
    _scenario.request_id = rid  # type: ignore[attr-defined]
    resp = client.get(f"/wall/340100000000?token={wall}")
    assert resp.status_code == 302
    client.get("/api/v1/regions/340100000000/metrics",
               headers={"Authorization": f"Bearer {leader}"})
    assert client.get(f"/api/v1/regions/340100000000/metrics?token={revoked}").status_code == 401
    assert client.get("/region/340100000000", headers={
        "Authorization": f"Bearer {leader}x"}).status_code == 401
    r = client.post("/api/v1/exchange/persons", json=[
        {"person_id": "p3", "community_code": A1a, "id_number": ID_NUMBERS[1],
         "name": NAMES[1], "mobile": MOBILES[1], "status": "employed", "seeking_job": False}],
        headers={"Authorization": f"Bearer {exchange}"})
    assert r.status_code in (200, 207, 400, 422)
    # Code that logs what it was given must not leak it either.
    logging.getLogger("dashboard.test").warning(
        "a careless line: token=%s bearer %s id %s tel %s", wall, leader, ID_NUMBERS[0],
        MOBILES[0])
    logging.getLogger("dashboard.test").info("Authorization: Bearer %s", exchange)
    # A refresh that cannot reach its database logs its traceback (one line).
    broken = make_engine(f"sqlite:///{tmp_path / 'missing' / 'no' / 'db.sqlite'}x/")
    refresh(broken, as_of=AS_OF, tz=TZ, lock_wait=0)
    assert refresh(engine, as_of=AS_OF, tz=TZ).status == "ok"
