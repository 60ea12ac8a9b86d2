"""Execute the tutorials on a real Jupyter kernel and write .ipynb files with their outputs.

    python notebooks/build.py                        # every tutorial -> notebooks/_build/*.ipynb
    python notebooks/build.py 05 07 --backend torch  # some tutorials, on another backend
    python notebooks/build.py --out my_dir --timeout 300

The sources are jupytext py:percent files (`NN_name.py`, reviewable diffs); the .ipynb files
are generated, for Colab and for reading without running. Each notebook runs in a fresh
kernel with EDU_NN_BACKEND set, which its parameters cell reads. The wall-clock and kernel
CPU time each one took are printed (the figures in notebooks/README.md come from this).
tests/test_notebooks.py uses `execute` from here, so CI runs them the same way.
Needs the `notebooks` extra: pip install -e ".[notebooks]".
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "_build"


def tutorials(selected=()) -> list[Path]:
    """The tutorial sources in order; ``selected`` filters by number or name prefix."""
    paths = sorted(HERE.glob("[0-9][0-9]_*.py"))
    if selected:
        paths = [p for p in paths if any(p.name.startswith(s) for s in selected)]
    return paths


def execute(path: Path, backend: str = "numpy", timeout: int = 600):
    """Run one tutorial top to bottom in a fresh python3 kernel; return (notebook, seconds).

    seconds: wall-clock time from starting the kernel to shutting it down.

    Raises nbclient's CellExecutionError (with the failing cell and its traceback) when a
    cell fails, which includes a tutorial's assertion about what it teaches.
    """
    import jupytext
    from nbclient import NotebookClient

    notebook = jupytext.read(path)
    env = {**os.environ, "EDU_NN_BACKEND": backend,
           "MPLBACKEND": "module://matplotlib_inline.backend_inline"}   # figures inline
    # run as a student would: the test suite switches JAX's 64-bit mode on for itself
    # (tests/conftest.py); a tutorial that needs float64 on JAX must say so itself
    env.pop("JAX_ENABLE_X64", None)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute(env=env)      # starts the kernel, runs every cell, shuts the kernel down
    return notebook, time.perf_counter() - start


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes: the kernels."""
    import resource
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("selected", nargs="*", help="tutorial numbers or names (default: all)")
    parser.add_argument("--backend", default="numpy", choices=["numpy", "torch", "jax"])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"folder for the .ipynb files (default {DEFAULT_OUT})")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    import nbformat

    paths = tutorials(args.selected)
    if not paths:
        parser.error(f"no tutorial matches {args.selected}; they are: "
                     f"{', '.join(p.stem for p in tutorials())}")
    args.out.mkdir(parents=True, exist_ok=True)
    total_wall = total_cpu = 0.0
    for path in paths:
        cpu_before = _children_cpu()
        notebook, seconds = execute(path, args.backend, args.timeout)
        cpu = _children_cpu() - cpu_before
        total_wall, total_cpu = total_wall + seconds, total_cpu + cpu
        target = args.out / (path.stem + ".ipynb")
        nbformat.write(notebook, target)
        print(f"{seconds:6.1f} s wall {cpu:6.1f} s kernel CPU  {path.name} -> {target}",
              flush=True)
    print(f"{total_wall:6.1f} s wall {total_cpu:6.1f} s kernel CPU  in all ({args.backend})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
