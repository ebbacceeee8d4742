#!/usr/bin/env bash
# Install what the PostgreSQL tests of `labeltune tune` need (tests/test_tune.py::test_two_workers_*):
# the PostgreSQL server binaries (Debian/Ubuntu `postgresql`; the test starts its own throw-away server on a
# private Unix socket, so no system service is used) and the psycopg2 driver into the venv.
# Usage: scripts/install_postgres.sh [VENV_DIR]   (default: .venv)
# Idempotent: apt is skipped when initdb is already there.
set -euo pipefail

VENV="${1:-.venv}"

if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "PostgreSQL server binaries already installed"
else
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql
fi
if "$VENV/bin/python" -c "import psycopg2" 2>/dev/null; then
    echo "psycopg2 already installed in $VENV"
else
    "$VENV/bin/python" -m pip install -q "psycopg2-binary>=2.9"
fi
