"""How long ``import edu_nn`` takes in a fresh interpreter, against ``import numpy`` (which it
needs anyway) measured in the same run. The budget is 0.3 s (issue 15: a notebook or a grader
child starts at once); the figure is printed, not asserted, because a timing on a shared
machine is not a test (tests/test_import.py checks the structural part: nothing heavy loads).

    python benchmarks/bench_import.py [--repeat 7]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

BUDGET_S = 0.3
PROBE = ("import json, time\nstart = time.perf_counter()\nimport {module}\n"
         "print(json.dumps(time.perf_counter() - start))\n")


def best_of(module: str, repeat: int, cwd: str) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "EDU_NN_BACKEND")}
    times = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", PROBE.format(module=module)], cwd=cwd,
                             env=env, capture_output=True, text=True, check=True).stdout
        times.append(json.loads(out))
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cwd:      # never the checkout's edu_nn folder
        numpy_s = best_of("numpy", args.repeat, cwd)
        edu_s = best_of("edu_nn", args.repeat, cwd)
    print(f"import numpy   {numpy_s * 1e3:7.1f} ms (best of {args.repeat})")
    print(f"import edu_nn  {edu_s * 1e3:7.1f} ms (numpy included): {edu_s / numpy_s:.2f}x numpy; "
          f"budget {BUDGET_S * 1e3:.0f} ms: {'met' if edu_s < BUDGET_S else 'MISSED'}")


if __name__ == "__main__":
    main()
