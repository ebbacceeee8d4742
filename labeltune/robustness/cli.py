"""`labeltune robustness` flags: --model, --data, --output, --precision, --batch-size, --threads, the task's own
options (to override the saved ones), and RobustnessOptions."""

from __future__ import annotations

import os

from ..cli_help import Parser
from ..errors import UserError


def main(argv: list[str]) -> int:
    import torch

    from ..cli import _add_dataclass_flags, _flags_given, saved_task
    from . import RobustnessOptions, robustness, wordfix

    task = saved_task(argv)
    parser = Parser(prog="labeltune robustness",
                                     description="metric under perturbations, an attack, behavioural tests; a report")
    parser.add_argument("--model", required=True, help="a directory written by `labeltune train`")
    parser.add_argument("--data", required=True, help="labelled data file (the format evaluate reads)")
    parser.add_argument("--output", required=True, help="directory for robustness.json/.html/.png, adversarial.jsonl")
    parser.add_argument("--precision", default="fp32", help="fp32 | bf16 | auto (default: fp32, reproducible)")
    parser.add_argument("--batch-size", type=int, default=64, help="examples per batch (default: 64)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    parser.add_argument("--no-word-recognition", action="store_true", help=wordfix.NO_FLAG_HELP + " (--model and --compare)")
    _add_dataclass_flags(parser, RobustnessOptions)
    if task is not None:
        _add_dataclass_flags(parser, task.Options)
    ns = parser.parse_args(argv)
    if ns.threads < 0:
        raise UserError("--threads must be >= 0")
    if ns.threads:
        torch.set_num_threads(ns.threads)
    opts = RobustnessOptions(**_flags_given(ns, RobustnessOptions))
    overrides = _flags_given(ns, task.Options) if task is not None else {}
    overrides.update(wordfix.switch_off(ns.no_word_recognition, ns.model, opts.compare))
    result = robustness(ns.model, ns.data, ns.output, opts, ns.precision, ns.batch_size, **overrides)
    print(_table(result))
    print(f"wrote {os.path.join(ns.output, 'robustness.json')}, robustness.html and robustness.png")
    return 0


def _table(result: dict) -> str:
    """The metric table as text: perturbation, severity, words changed, metric (and the --compare model's)."""
    has_compare = bool(result.get("compare"))
    head = f"{'perturbation':<14}{'severity':>9}{'changed':>9}{result['metric']:>12}" + (f"{'compare':>12}" if has_compare else "")
    lines = [head]
    for r in result["rows"]:
        sev = "-" if r["severity"] is None else f"{r['severity']:g}"
        changed = "-" if r["words_changed"] is None else f"{r['words_changed']:.3f}"
        line = f"{r['perturbation']:<14}{sev:>9}{changed:>9}{r['model']:>12.4f}"
        if has_compare:
            line += f"{r['compare']:>12.4f}"
        lines.append(line)
    for key, a in (result.get("attack") or {}).items():
        lines.append(f"attack ({key}): success rate {a['attack_success_rate']:.3f}, accuracy {a['accuracy_before']:.3f}"
                     f" -> {a['accuracy_under_attack']:.3f}, words perturbed {a['words_perturbed']:.3f}, "
                     f"queries {a['average_queries']:.1f}")
    for key, tests in (result.get("behaviour") or {}).items():
        for t in tests:
            lines.append(f"test ({key}) {t['name']}: {t['type']} {t['failed']}/{t['cases']} failed: "
                         f"{'pass' if t['passed'] else 'FAIL'}")
    return "\n".join(lines)
