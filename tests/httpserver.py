"""A real HTTP server (werkzeug, in a thread) around an app, for tests over the wire."""

from __future__ import annotations

import socket
import threading
from typing import Any

from werkzeug.serving import make_server


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """Serve a WSGI app on 127.0.0.1 until stop()."""

    def __init__(self, wsgi_app: Any) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._srv = make_server("127.0.0.1", self.port, wsgi_app, threaded=True)
        threading.Thread(target=self._srv.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Stop serving."""
        self._srv.shutdown()
        self._srv.server_close()


def callback_body(deps: list[dict[str, Any]], marker: str, inputs: dict[str, Any],
                  state: dict[str, Any]) -> dict[str, Any]:
    """The JSON a browser posts to /_dash-update-component for the callback whose output
    string contains `marker`, with the given input and state values (keyed by component id)."""
    dep = next(d for d in deps if marker in d["output"])
    out = dep["output"]
    parts = out.strip(".").split("...") if out.startswith("..") else [out]
    outputs = []
    for part in parts:
        cid, prop = part.rsplit(".", 1)
        outputs.append({"id": cid, "property": prop})
    def value(cid: str) -> Any:
        # A panel's want store ({region, panel, batch}) as the page derives it from the
        # target and batch stores, unless the caller gives it.
        if cid.startswith("want-") and cid not in inputs and "target" in inputs:
            target = inputs["target"]
            if not isinstance(target, dict):
                return target
            return {**target, "batch": inputs.get("batch")}
        return inputs.get(cid)

    return {
        "output": out,
        "outputs": outputs if out.startswith("..") else outputs[0],
        "inputs": [{"id": i["id"], "property": i["property"], "value": value(i["id"])}
                   for i in dep["inputs"]],
        "changedPropIds": [f"{dep['inputs'][0]['id']}.{dep['inputs'][0]['property']}"],
        "state": [{"id": s["id"], "property": s["property"], "value": state.get(s["id"])}
                  for s in dep["state"]],
    }
