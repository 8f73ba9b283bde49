"""Start the production stack from deploy/ on one machine: nginx, web servers, schedulers.

The systemd units, the nginx site and the environment template are rendered with the
paths and ports given, and each process is started with exactly the unit's ExecStart,
WorkingDirectory, EnvironmentFile and Environment, so what runs here is what systemd would
run. Used by the deployment tests; by hand:

    python deploy/stack.py --run-dir /tmp/stack --web 18051,18052 --nginx 18080 \\
        --set DASHBOARD_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/test

then open http://127.0.0.1:18080/wall/340100000000 (Ctrl-C stops everything).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent
APP_DIR = DEPLOY.parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def render(text: str, values: dict[str, str]) -> str:
    """The template with every @NAME@ replaced; an unknown placeholder is an error."""
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    left = sorted(set(re.findall(r"@[A-Z_]+@", text)))
    if left:
        raise ValueError(f"placeholders left: {left}")
    return text


def _unquote(value: str) -> str:
    """One level of matching outer quotes removed, as systemd reads environment values."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of an EnvironmentFile (comments and blank lines skipped)."""
    env = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key.strip()] = _unquote(value.strip())
    return env


@dataclass
class Unit:
    """The [Service] settings of a systemd unit that say how to run it."""

    exec_start: list[str]
    working_directory: str
    environment: dict[str, str]
    environment_files: list[str]
    runtime_directories: list[str]


def parse_unit(text: str, instance: str = "") -> Unit:
    """ExecStart, WorkingDirectory, Environment(File) and RuntimeDirectory of a unit."""
    text = text.replace("%i", instance)
    section, env, files, runtime = "", {}, [], []
    exec_start, workdir = [], "/"
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if section != "[Service]" or "=" not in line:
            continue
        key, value = line.split("=", 1)
        if key == "ExecStart":
            exec_start = shlex.split(value)
        elif key == "WorkingDirectory":
            workdir = value
        elif key == "Environment":
            for item in shlex.split(value):
                k, v = item.split("=", 1)
                env[k] = v
        elif key == "EnvironmentFile":
            files.append(value.lstrip("-"))
        elif key == "RuntimeDirectory":
            runtime += value.split()
    return Unit(exec_start, workdir, env, files, runtime)


@dataclass
class Stack:
    """nginx + web servers + schedulers of deploy/, rendered into run_dir."""

    run_dir: Path
    settings: dict[str, str]
    web_ports: list[int]
    schedulers: int = 1
    nginx_port: int | None = None
    workers: int = 2
    python: str = sys.executable
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    # ------------------------------------------------------------ rendering
    @property
    def venv(self) -> str:
        """The virtualenv's folder (bin/python, bin/gunicorn)."""
        return str(Path(self.python).parent.parent)

    def values(self) -> dict[str, str]:
        """Placeholder values of this stack."""
        run = self.run_dir / "run"
        return {
            "APP_DIR": str(APP_DIR), "VENV": self.venv, "USER": "root",
            "ENV_FILE": str(self.run_dir / "etc" / "dashboard.env"), "RUN_DIR": str(run),
            "LOG_DIR": str(self.run_dir / "logs"), "CACHE_DIR": str(run / "nginx-cache"),
            "LISTEN": f"127.0.0.1:{self.nginx_port}", "SERVER_NAME": "localhost",
            "UPSTREAMS": "\n    ".join(
                f"server 127.0.0.1:{p} max_fails=2 fail_timeout=5s;" for p in self.web_ports),
            "SITE": str(self.run_dir / "etc" / "dashboard.conf"),
            "USER_LINE": "user root;" if os.geteuid() == 0 else "",
        }

    def render_all(self) -> dict[str, Path]:
        """Write the env file, the units and the nginx configuration under run_dir/etc."""
        etc = self.run_dir / "etc"
        for sub in ("etc", "logs", "run"):
            (self.run_dir / sub).mkdir(parents=True, exist_ok=True)
        values = self.values()
        env_lines = []
        seen = set()
        for line in (DEPLOY / "dashboard.env.example").read_text(encoding="utf-8").splitlines():
            key = line.split("=", 1)[0].strip() if "=" in line and not line.startswith("#") \
                else None
            if key in self.settings:
                line = f"{key}={self.settings[key]}"
                seen.add(key)
            env_lines.append(line)
        env_lines += [f"{k}={v}" for k, v in self.settings.items() if k not in seen]
        (etc / "dashboard.env").write_text("\n".join(env_lines) + "\n", encoding="utf-8")
        out = {"env": etc / "dashboard.env"}
        for name in ("dashboard-web@.service", "dashboard-scheduler.service"):
            path = etc / name
            path.write_text(render((DEPLOY / "systemd" / name).read_text(encoding="utf-8"),
                                   values), encoding="utf-8")
            out[name] = path
        site = etc / "dashboard.conf"
        site.write_text(render((DEPLOY / "nginx" / "dashboard.conf").read_text(
            encoding="utf-8"), values), encoding="utf-8")
        main = etc / "nginx.conf"
        main.write_text(render((DEPLOY / "nginx" / "standalone.conf").read_text(
            encoding="utf-8"), values), encoding="utf-8")
        out["site"], out["nginx"] = site, main
        return out

    # ------------------------------------------------------------ processes
    def _spawn(self, name: str, unit_file: Path, instance: str = "") -> subprocess.Popen:
        unit = parse_unit(unit_file.read_text(encoding="utf-8"), instance)
        env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ")
               if k in os.environ}
        for f in unit.environment_files:
            env.update(read_env_file(Path(f)))
        env.update(unit.environment)
        env["DASHBOARD_WORKERS"] = str(self.workers)
        for d in unit.runtime_directories:
            (self.run_dir / "run" / d).mkdir(parents=True, exist_ok=True)
        log = open(self.run_dir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - kept open
        proc = subprocess.Popen(unit.exec_start, cwd=unit.working_directory, env=env,
                                stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs[name] = proc
        return proc

    def start_web(self, port: int) -> subprocess.Popen:
        """One web server, as `systemctl start dashboard-web@PORT` would run it."""
        return self._spawn(f"web-{port}", self.run_dir / "etc" / "dashboard-web@.service",
                           str(port))

    def start_scheduler(self, i: int) -> subprocess.Popen:
        """One scheduler, as `systemctl start dashboard-scheduler` would run it."""
        return self._spawn(f"scheduler-{i}",
                           self.run_dir / "etc" / "dashboard-scheduler.service")

    def nginx_check(self) -> subprocess.CompletedProcess:
        """`nginx -t` on the rendered configuration."""
        paths = self.render_all()
        return subprocess.run(
            [NGINX, "-t", "-p", str(self.run_dir), "-c", str(paths["nginx"]),
             "-e", str(self.run_dir / "logs" / "nginx-error.log")],
            capture_output=True, text=True, timeout=30)

    def start_nginx(self) -> subprocess.Popen:
        """nginx in the foreground with the rendered configuration."""
        log = open(self.run_dir / "logs" / "nginx.log", "ab")  # noqa: SIM115 - kept open
        proc = subprocess.Popen(
            [NGINX, "-p", str(self.run_dir), "-c", str(self.run_dir / "etc" / "nginx.conf"),
             "-e", str(self.run_dir / "logs" / "nginx-error.log")],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs["nginx"] = proc
        return proc

    def start(self, timeout: float = 60) -> None:
        """Render, then start every part and wait until each web server (and nginx) answers."""
        self.render_all()
        for port in self.web_ports:
            self.start_web(port)
        for i in range(self.schedulers):
            self.start_scheduler(i)
        if self.nginx_port:
            self.start_nginx()
        urls = [f"http://127.0.0.1:{p}/healthz" for p in self.web_ports]
        if self.nginx_port:
            urls.append(f"http://127.0.0.1:{self.nginx_port}/healthz")
        for url in urls:
            wait_http(url, timeout, self)

    def log_text(self) -> str:
        """Everything the processes wrote so far."""
        return "".join(p.read_text(encoding="utf-8", errors="replace")
                       for p in sorted((self.run_dir / "logs").glob("*.log")))

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send a signal to one part's process group (SIGKILL: as a crash would)."""
        proc = self.procs[name]
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM every part (as systemctl stop), SIGKILL what is left after 20 s."""
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 20
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)


def wait_http(url: str, timeout: float, stack: Stack | None = None) -> None:
    """Wait until the URL answers with any HTTP status (a process that died is an error)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # it answered (503 before the first snapshot is fine)
        except OSError:
            pass
        if stack is not None:
            dead = [n for n, p in stack.procs.items() if p.poll() is not None]
            if dead:
                raise RuntimeError(f"{dead} exited early:\n{stack.log_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")
        time.sleep(0.3)


def main(argv: list[str] | None = None) -> int:
    """Run the stack until Ctrl-C."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run-dir", required=True, type=Path)
    ap.add_argument("--web", default="18051,18052", help="web server ports")
    ap.add_argument("--nginx", type=int, default=18080, help="nginx port (0: none)")
    ap.add_argument("--schedulers", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="environment file values (DASHBOARD_DATABASE_URL=...)")
    args = ap.parse_args(argv)
    settings = {"DASHBOARD_DATABASE_URL": f"sqlite:///{args.run_dir.resolve()}/dashboard.db",
                "DASHBOARD_CACHE_URL": "", "DASHBOARD_AUTH": "off",
                "DASHBOARD_SECRET_KEY": "stack-" + os.urandom(8).hex()}
    settings.update(dict(s.split("=", 1) for s in args.set))
    stack = Stack(args.run_dir.resolve(), settings,
                  [int(p) for p in args.web.split(",")], args.schedulers,
                  args.nginx or None, args.workers)
    try:
        stack.start()
        print(f"running; logs in {stack.run_dir / 'logs'}; Ctrl-C stops", flush=True)
        while all(p.poll() is None for p in stack.procs.values()):
            time.sleep(1)
        print("a process exited; stopping", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
