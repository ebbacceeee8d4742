"""`labeltune` whose training stops dead after step STOP (tests only): `python tests/stop_worker.py STOP train ...`.

Every process exits with os._exit right after that optimizer step, with no clean-up, as a killed run would;
unlike a SIGKILL sent from outside, the step is exact, so the test does not race the run.
"""

from __future__ import annotations

import os
import sys

import labeltune.loop as loop_mod

STOP = int(sys.argv[1])
real_fit = loop_mod.fit


def fit_that_dies(*args, **kwargs):
    for info in real_fit(*args, **kwargs):
        yield info
        if info["step"] == STOP:
            sys.stdout.flush()
            os._exit(9)


if __name__ == "__main__":
    loop_mod.fit = fit_that_dies
    from labeltune.cli import main

    sys.exit(main(sys.argv[2:]))
