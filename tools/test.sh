#!/usr/bin/env bash
# Command two: install what the tests need into a fresh virtual environment (Chromium and
# fonts from Debian when missing) and run every test.
# Usage: bash tools/test.sh [pytest args...]
# Environment: PYTHON (interpreter for the venv, default python3), TEST_VENV (its folder,
# default .venv-test), TEST_VENV_REUSE=1 (keep an existing venv; ignored under CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

# ---------------------------------------------------------------- browser and CJK fonts
# The font list is captured first and searched afterwards: `fc-list | grep -q` under
# pipefail fails with 141 whenever grep exits before fc-list has written everything.
have_cjk_font() {
  local fonts
  command -v fc-list >/dev/null 2>&1 || return 1
  fonts="$(fc-list : family 2>/dev/null || true)"
  grep -qi "noto sans cjk" <<<"$fonts"
}
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
have_cjk_font || missing+=(fontconfig fonts-noto-cjk)
# Debian's nginx: the deploy/ site is checked with `nginx -t` and serves the stack test.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ "${#missing[@]}" -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "installing for the browser tests: ${missing[*]}"
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
      "${missing[@]}" >/dev/null
  else
    echo "chromium, chromedriver and Noto CJK fonts are needed for the browser tests" >&2
  fi
fi

# ---------------------------------------------------------------- Python environment
# A virtual environment of its own, without the machine's site-packages, so a passing run
# proves that requirements-test.txt is enough.
PYTHON="${PYTHON:-python3}"
VENV="${TEST_VENV:-.venv-test}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "Python 3.11+ is needed ($PYTHON is $("$PYTHON" -V 2>&1))" >&2; exit 2; }
if [ "${CI:-}" = "true" ] || [ "${TEST_VENV_REUSE:-}" != "1" ] || [ ! -x "$VENV/bin/python" ]; then
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
fi
unset PYTHONPATH PYTHONHOME
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements-test.txt
"$VENV/bin/python" -m pip check

# ---------------------------------------------------------------- services
# PostgreSQL and Redis: start them when they are installed but not running.
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
if command -v redis-server >/dev/null 2>&1 && ! (command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1); then
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
  sleep 1
fi

# MariaDB (the database tests run on it too): start it when installed but not running, and
# make sure the database `test` exists.
if command -v mariadb-admin >/dev/null 2>&1 && ! mariadb-admin -uroot -h127.0.0.1 ping >/dev/null 2>&1; then
  $SUDO service mariadb start >/dev/null 2>&1 || $SUDO service mysql start >/dev/null 2>&1 || true
  for _ in $(seq 1 30); do mariadb-admin -uroot -h127.0.0.1 ping >/dev/null 2>&1 && break; sleep 1; done
fi
if command -v mariadb >/dev/null 2>&1; then
  mariadb -uroot -h127.0.0.1 -e 'CREATE DATABASE IF NOT EXISTS test' >/dev/null 2>&1 || true
fi

# ---------------------------------------------------------------- lint and tests
"$VENV/bin/ruff" check .
# Under CI=true a test that would skip (service, browser or package missing) fails instead.
"$VENV/bin/python" -m pytest -q --durations=15 "$@"
