"""Instructions per training step, counted by valgrind: a timing that load cannot disturb.

    python benchmarks/bench_instructions.py                  # this tree
    python benchmarks/bench_instructions.py --tree /tmp/old  # also an exported older tree

On a shared machine, step times move by several percent from run to run, which hides a
regression of a few percent in the per-op overhead. valgrind's callgrind counts the
instructions a process executes, and that count does not depend on the load. Each workload
is run for 100 and for 1100 steps, and the difference divided by 1000 is the cost of one step
without imports or set-up. The reference, hand-written NumPy (bench_core.numpy_step), is
counted in the same run, and the ratio is printed.

Instructions are not time. A step of small arrays is mostly interpreter work, and there the
two move together, but time also depends on memory traffic. Use this to find *where* a
regression is (``--annotate`` prints the C functions whose counts changed most between two
trees), and bench_core.py for the time ratios.

Needs valgrind (``apt install valgrind``); about 1 minute per tree.

An older tree for ``--tree``: ``git archive REV | tar -x -C /tmp/old`` and then
``ln -s ../backends /tmp/old/edu_nn/backends``.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# What one process runs: ``n`` steps of the tiny MLP (64-32-10, batch 32), edu_nn or NumPy.
_STEPS = """
import sys
sys.path.insert(0, {benchmarks!r})
import numpy as np
import edu_nn
from bench_core import edu_step, init_mlp, numpy_mlp, numpy_step
rng = np.random.default_rng(0)
x_np = rng.standard_normal((32, 64)).astype(np.float32)
labels_np = rng.integers(0, 10, 32)
n = int(sys.argv[1])
if sys.argv[2] == "numpy":
    params = numpy_mlp((64, 32, 10), 0)
    for _ in range(n):
        numpy_step(params, x_np, labels_np, 1e-3)
else:
    params = init_mlp((64, 32, 10), seed=0, dtype="float32")
    x, labels = edu_nn.tensor(x_np), edu_nn.tensor(labels_np)
    for _ in range(n):
        edu_step(params, x, labels, 1e-3)
"""


def count(tree: str, workload: str, steps: int, out_file: str | None = None) -> int:
    """Instructions of one process running ``steps`` steps of ``workload`` in ``tree``."""
    script = _STEPS.format(benchmarks=os.path.join(tree, "benchmarks"))
    env = {**os.environ, "PYTHONPATH": tree, "OPENBLAS_NUM_THREADS": "1"}
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file or os.devnull}",
           sys.executable, "-c", script, str(steps), workload]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tree)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode or not found:
        raise RuntimeError(f"valgrind run failed in {tree}:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def per_step(tree: str, workload: str, keep: str | None = None) -> int:
    """Instructions of one step (the difference of 1100 and 100 steps, divided by 1000)."""
    small = count(tree, workload, 100, keep and keep + ".100")
    large = count(tree, workload, 1100, keep and keep + ".1100")
    return (large - small) // 1000


def _functions(path: str) -> dict[str, int]:
    """Instructions by C function in a callgrind output file."""
    text = subprocess.run(["callgrind_annotate", "--threshold=100", path],
                          capture_output=True, text=True).stdout
    counts: dict[str, int] = {}
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(\S+)", line)
        if m and "PROGRAM" not in line:
            name = m.group(2).split(":")[-1]
            counts[name] = counts.get(name, 0) + int(m.group(1).replace(",", ""))
    return counts


def annotate(keep_a: str, keep_b: str, top: int = 15) -> None:
    """Print the C functions whose per-step counts differ most between two kept runs."""
    def steps(keep):
        small, large = _functions(keep + ".100"), _functions(keep + ".1100")
        return {k: (large.get(k, 0) - small.get(k, 0)) / 1000 for k in set(small) | set(large)}
    a, b = steps(keep_a), steps(keep_b)
    print(f"\n{'other tree':>12s} {'this tree':>12s} {'change':>9s}  C function (per step)")
    for name in sorted(set(a) | set(b), key=lambda k: -abs(b.get(k, 0) - a.get(k, 0)))[:top]:
        print(f"{a.get(name, 0):12.0f} {b.get(name, 0):12.0f} "
              f"{b.get(name, 0) - a.get(name, 0):+9.0f}  {name}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", help="another source tree to count too (an older version)")
    parser.add_argument("--annotate", action="store_true",
                        help="with --tree: the C functions whose counts changed most")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        sys.exit("bench_instructions: valgrind is not installed (apt install valgrind)")
    trees = [("this tree", ROOT)] + ([("--tree", os.path.abspath(args.tree))]
                                     if args.tree else [])
    keep = tempfile.mkdtemp(prefix="edu-nn-callgrind-") if args.annotate else None
    print("instructions per step, 64-32-10 MLP, batch 32, float32 (callgrind)")
    results = {}
    for label, tree in trees:
        numpy_ir = per_step(tree, "numpy")
        edu_ir = per_step(tree, "edu_nn", keep and os.path.join(keep, label.strip("-")))
        results[label] = edu_ir
        print(f"  {label:10s} hand NumPy {numpy_ir:9,d}  edu_nn {edu_ir:9,d}  "
              f"ratio {edu_ir / numpy_ir:.3f}x")
    if args.tree:
        change = results["this tree"] / results["--tree"] - 1
        print(f"  edu_nn step, this tree vs --tree: {change:+.2%} instructions")
        if args.annotate:
            annotate(os.path.join(keep, "tree"), os.path.join(keep, "this tree"))
    if keep:
        shutil.rmtree(keep, ignore_errors=True)


if __name__ == "__main__":
    main()
