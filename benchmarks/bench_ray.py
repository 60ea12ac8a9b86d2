"""grade-all on Ray against the local pool: run `python benchmarks/bench_ray.py` (as root: the
grader jails student code; needs `pip install "edu_nn[ray]"`).

Grades the same 100 generated submissions (tests/fixtures/grading/adv, the mix of
tests/test_grade_all.py: right, nested, wrong, forger, syntax error, missing file, hang at
import) twice in one run:

  local -j 2   edu-nn grade-all -j 2 (two spawn worker processes on this machine)
  Ray          edu-nn grade-all --engine ray --address ADDR on a local Ray cluster with 2 CPUs
               (``ray start --head --num-cpus 2``, started first and timed apart: a course
               starts its cluster once, not per grading run; it stays up, idle, while the
               local runs too)

``--repeat`` times each, in turn, and prints the wall times, the ratio of the best of each (issue 19's target: Ray <= 1.2x local), the cluster's
start-up, and a projection for N machines (docs/benchmarks.md states its assumptions).
The gradebooks are compared (without the times) to make sure both graded the same.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edu_nn import cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_grade_all import ADV, COUNTS, KINDS  # noqa: E402  (the 30-submission test's mix)


def make_submissions(folder: Path, n: int) -> None:
    """``n`` submission folders, the kinds in the proportions of test_grade_all's export."""
    kinds = [k for k, count in COUNTS.items() for _ in range(count)]
    for i in range(n):
        path, text, _, _ = KINDS[kinds[i % len(kinds)]]
        target = folder / f"student_{i:03d}" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def start_cluster(top: Path, cpus: int) -> tuple[subprocess.Popen, str, dict]:
    """``ray start --head --block`` in its own process group; (process, address, auth env)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    (top / "work").mkdir()
    log = top / "ray-start.log"
    process = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "ray"), "start", "--head", "--block",
         "--num-cpus", str(cpus), "--port", str(port), "--temp-dir", str(top / "ray"),
         "--object-store-memory", str(200 * 2 ** 20), "--include-dashboard", "false",
         "--disable-usage-stats"], stdout=open(log, "w"), stderr=subprocess.STDOUT,
        env={**os.environ, **auth, "TMPDIR": str(top / "work")}, start_new_session=True)
    deadline = time.monotonic() + 180
    while "--block" not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"ray start failed:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    return process, f"127.0.0.1:{port}", auth


def untimed_rows(path: Path) -> list[dict]:
    with open(path) as f:
        return [{k: v for k, v in r.items() if k != "seconds" and not k.endswith(" s")}
                for r in csv.DictReader(f)]


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):      # its one-line summary per run
        status = cli.main(argv)
    if status != 0:
        raise RuntimeError(f"edu-nn {' '.join(argv)} failed")
    return time.perf_counter() - start


def fixed_costs(subs: Path, address: str) -> tuple[float, float]:
    """Seconds to connect a driver to the cluster (and leave), and to pack every upload."""
    from edu_nn._ray import ray_session
    from edu_nn.grading.ray_engine import pack_folder
    start = time.perf_counter()
    with ray_session(address):
        pass
    connect = time.perf_counter() - start
    start = time.perf_counter()
    for folder in sorted(subs.iterdir()):
        pack_folder(folder)
    return connect, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=100)
    parser.add_argument("--cpus", type=int, default=2, help="-j and the cluster's CPUs")
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs of each, in turn (the best of each is compared)")
    args = parser.parse_args()
    top = Path(tempfile.mkdtemp(prefix="edu-nn-bench-ray-"))
    cluster = None
    try:
        subs = top / "subs"
        make_submissions(subs, args.submissions)
        start = time.perf_counter()
        cluster, address, auth = start_cluster(top, args.cpus)
        started = time.perf_counter() - start
        os.environ.update(auth)
        load = os.getloadavg()
        locals_, rays = [], []
        for i in range(args.repeat):     # in turn, so a busy phase of the machine hits both
            locals_.append(timed(["grade-all", str(subs), "--assignment", str(ADV), "-j",
                                  str(args.cpus), "--out", str(top / f"local{i}")]))
            rays.append(timed(["grade-all", str(subs), "--assignment", str(ADV), "--engine",
                               "ray", "--address", address, "--out", str(top / f"ray{i}")]))
        local, ray = min(locals_), min(rays)
        same = all(untimed_rows(top / "local0" / "gradebook.csv") ==
                   untimed_rows(top / f"{kind}{i}" / "gradebook.csv")
                   for kind in ("local", "ray") for i in range(args.repeat))
        connect, packing = fixed_costs(subs, address)
        n, c = args.submissions, args.cpus
        per_sub = local * c / n        # CPU-seconds per submission (the local run's)
        print(f"\n{n} submissions, {c} CPUs, load average (1, 5, 15 min) before: "
              f"{' '.join(f'{x:.2f}' for x in load)}, after: "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
        print(f"  local -j {c}:                  {local:6.1f} s   (best of "
              f"{', '.join(f'{t:.1f}' for t in locals_)})")
        print(f"  Ray, {c}-CPU local cluster:     {ray:6.1f} s   (best of "
              f"{', '.join(f'{t:.1f}' for t in rays)})")
        print(f"  ratio Ray / local: {ray / local:.2f}x (target <= 1.2x); run by run: "
              f"{', '.join(f'{r / l:.2f}x' for l, r in zip(locals_, rays))}")
        print(f"  cluster start-up (once):       {started:6.1f} s")
        print(f"  of Ray's time: driver connect {connect:.1f} s, packing {n} uploads "
              f"{packing:.2f} s")
        print(f"  gradebooks equal (without times): {same}")
        print(f"\nprojection, N machines of {c} CPUs: T(N) = connect + packing + S * "
              f"{per_sub:.2f} CPU-s / (N * {c}) (docs/benchmarks.md states the assumptions)")
        for machines in (1, 2, 4, 8, 16):
            print(f"  N={machines:<3} {n} submissions ~"
                  f"{connect + packing + per_sub * n / (machines * c):6.1f} s; 500 hw3 "
                  f"submissions (13 CPU-s each) ~{(connect + 500 * 13 / (machines * c)) / 60:5.1f}"
                  f" min")
        if not same:
            sys.exit("the Ray gradebook differs from the local one")
    finally:
        if cluster is not None:
            cluster.send_signal(signal.SIGTERM)
            try:
                cluster.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(cluster.pid, signal.SIGKILL)
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
