"""Run one program of the compatibility suite with torch or with edu_nn; print its metric.

    python tests/compat/runner.py PROGRAM.py --lib torch --seeds 0,1,2 --metric "loss.item()"
    python tests/compat/runner.py PROGRAM.py --lib edu_nn --seeds 0 --metric "loss.item()"

With ``--lib edu_nn`` the program's *import statements* are rewritten (``import torch`` ->
``import edu_nn as torch``, ``import torch.nn as nn`` -> ``import edu_nn.nn as nn``,
``from torch.x import y`` -> ``from edu_nn.x import y``); nothing else in its text changes.
``--replace OLD=>NEW`` edits (e.g. a shorter loop) apply to both libraries alike.

For each seed the program runs as ``__main__`` in a fresh namespace, in the current
directory, with its output discarded, after seeding Python's ``random``, NumPy and the
library (``manual_seed``): the same stand-in treatment on both sides. Then ``--metric``
(a Python expression) is evaluated in the program's namespace, where ``_stdout`` holds what
the program printed and ``re`` is the regex module. Prints one JSON line:
``{"values": [...], "seconds": ...}``.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

_IMPORT = re.compile(r"^(\s*)import torch(\.[\w.]+)?( as \w+)?\s*$")
_FROM = re.compile(r"^(\s*)from torch(\.[\w.]+)? import (.+)$")


def to_edu_nn(source: str) -> str:
    """The program with its torch imports pointed at edu_nn (and nothing else changed)."""
    out = []
    for line in source.splitlines():
        m = _IMPORT.match(line)
        if m:
            indent, sub, alias = m.group(1), m.group(2) or "", m.group(3)
            if not sub:
                line = f"{indent}import edu_nn as torch"
            elif alias:
                line = f"{indent}import edu_nn{sub}{alias}"
            else:  # `import torch.nn` binds `torch`
                line = f"{indent}import edu_nn{sub}; import edu_nn as torch"
        else:
            m = _FROM.match(line)
            if m:
                line = f"{m.group(1)}from edu_nn{m.group(2) or ''} import {m.group(3)}"
        out.append(line)
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("program")
    ap.add_argument("--lib", choices=["torch", "edu_nn"], required=True)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--metric", required=True)
    ap.add_argument("--replace", action="append", default=[])
    ap.add_argument("--argv", default="", help="arguments the program sees in sys.argv; "
                    "{seed} stands for the seed (for programs that seed themselves)")
    args = ap.parse_args()

    source = open(args.program, encoding="utf-8").read()
    for rule in args.replace:
        old, new = rule.split("=>", 1)
        if old not in source:
            sys.exit(f"runner: --replace {old!r} does not occur in {args.program}")
        source = source.replace(old, new)
    if args.lib == "edu_nn":
        source = to_edu_nn(source)
    code = compile(source, args.program, "exec")
    sys.path.insert(0, os.path.join(HERE, "support"))  # stand-ins (torchvision, micrograd)
    os.environ["EDU_NN_COMPAT_LIB"] = args.lib
    import numpy as np
    lib = __import__(args.lib)

    values, start = [], time.perf_counter()
    for seed in (int(s) for s in args.seeds.split(",")):
        random.seed(seed)
        np.random.seed(seed)
        lib.manual_seed(seed)
        namespace = {"__name__": "__main__", "__file__": args.program}
        sys.argv = [args.program] + args.argv.format(seed=seed).split()
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(code, namespace)
        # the metric may read the program's variables, or its printed output (``_stdout``)
        values.append(float(eval(args.metric, {**namespace, "_stdout": out.getvalue(), "re": re})))
    print(json.dumps({"values": values, "seconds": time.perf_counter() - start}))


if __name__ == "__main__":
    main()
