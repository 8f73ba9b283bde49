"""A provincial receiver for tests: `python tests/outbox_receiver.py PORT SECRET LOG [options]`.

It checks X-Signature (401 when wrong), then answers 500 to a share of requests (nothing
recorded), hangs on a share (recorded first, answered too late: the sender's timeout makes
it a failure, so the events come again) and records the others (one JSON line per event,
written before the 200). `CTL/hang_next` (a file) makes the next request hang and is
replaced by `CTL/hung`, so a test can kill the sender mid-batch.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    """Serve until killed."""
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("secret")
    ap.add_argument("log")
    ap.add_argument("--fail", type=float, default=0.0, help="share answered 500")
    ap.add_argument("--hang", type=float, default=0.0, help="share recorded, then hung")
    ap.add_argument("--hang-seconds", type=float, default=3.0)
    ap.add_argument("--ctl", default=None, help="control directory (hang_next / hung)")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    lock = threading.Lock()
    log = open(args.log, "a", encoding="utf-8")  # noqa: SIM115 - open for the process

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:  # quiet
            pass

        def _answer(self, status: int, text: str) -> None:
            body = json.dumps({"status": text}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            want = "sha256=" + hmac.new(args.secret.encode(), body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(want, self.headers.get("X-Signature", "")):
                self._answer(401, "bad signature")
                return
            with lock:
                hang_next = bool(args.ctl) and os.path.exists(os.path.join(args.ctl, "hang_next"))
                fate = rng.random()
            if not hang_next and fate < args.fail:
                self._answer(500, "failing on purpose")
                return
            events = json.loads(body)["events"]
            key = self.headers.get("Idempotency-Key", "")
            with lock:
                for ev in events:
                    subject = ev.get("person_id") or ev.get("vacancy_id")
                    log.write(json.dumps({"event_id": ev["event_id"], "seq": ev["seq"],
                                          "subject": f"{ev['type']}:{subject}",
                                          "status": ev.get("status"), "key": key}) + "\n")
                log.flush()
            if hang_next:
                os.replace(os.path.join(args.ctl, "hang_next"), os.path.join(args.ctl, "hung"))
                time.sleep(60)
                return
            if fate < args.fail + args.hang:
                time.sleep(args.hang_seconds)
            self._answer(200, "ok")

    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    print("ready", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
