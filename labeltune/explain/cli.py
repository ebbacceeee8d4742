"""`labeltune explain` flags: the model command's (--model, --input, --output, --precision, the task's own
options) plus ExplainOptions, and --threads."""

from __future__ import annotations

import json
import os
import sys

from ..cli_help import Parser
from ..errors import UserError


def main(argv: list[str]) -> int:
    from ..cli import _add_dataclass_flags, _flags_given, saved_task
    from ..robustness import wordfix
    from .core import ExplainOptions, explain_file

    task = saved_task(argv)
    parser = Parser(prog="labeltune explain", description="word attributions, faithfulness, a page")
    parser.add_argument("--model", required=True, help="a directory written by `labeltune train`")
    parser.add_argument("--input", required=True, help="file of inputs to explain (the format predict reads)")
    parser.add_argument("--output", required=True, help="directory for attributions.jsonl, explain.html, PNGs")
    parser.add_argument("--precision", default="fp32",
                        help="fp32 | bf16 | auto (default: fp32: IG's completeness is tighter in fp32)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    parser.add_argument("--batch-size", type=int, default=64, help="examples per prediction batch (default: 64)")
    parser.add_argument("--no-word-recognition", action="store_true", help=wordfix.NO_FLAG_HELP)
    _add_dataclass_flags(parser, ExplainOptions)
    if task is not None:
        _add_dataclass_flags(parser, task.Options)
    ns = parser.parse_args(argv)
    if ns.threads < 0:
        raise UserError("--threads must be >= 0")
    opts = ExplainOptions(**_flags_given(ns, ExplainOptions))
    overrides = _flags_given(ns, task.Options) if task is not None else {}
    overrides.update(wordfix.switch_off(ns.no_word_recognition, ns.model))
    summary = explain_file(ns.model, ns.input, ns.output, opts, ns.precision, ns.threads, ns.batch_size, **overrides)
    line = {k: v for k, v in summary.items() if k not in ("global_view", "faithfulness")}
    if "faithfulness" in summary:
        line["faithfulness"] = summary["faithfulness"]["table"]
        line["most_faithful"] = summary["faithfulness"].get("most_faithful")
    print(json.dumps(line, indent=1))
    if not summary.get("targets"):  # an empty page and faithfulness table otherwise go unexplained
        what = f"a {opts.target} prediction" if opts.target else "a prediction to explain (e.g. an entity, an answer)"
        print(f"note: nothing was explained: no input has {what}; the files list the words only", file=sys.stderr)
    print(f"wrote {os.path.join(ns.output, 'attributions.jsonl')} and explain.html")
    return 0
