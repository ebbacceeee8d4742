#!/usr/bin/env bash
# Install what the HTML page tests need: Debian's chromium (the system browser; nothing is downloaded by
# Playwright) and the Playwright driver into the venv.
# Usage: scripts/install_browser.sh [VENV_DIR]   (default: .venv). Idempotent.
set -euo pipefail

VENV="${1:-.venv}"
if command -v chromium >/dev/null 2>&1; then
    echo "chromium already installed"
else
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium
fi
if "$VENV/bin/python" -c "import playwright" 2>/dev/null; then
    echo "playwright already installed in $VENV"
else
    "$VENV/bin/python" -m pip install -q "playwright>=1.40"
fi
