"""The ``edu-nn`` command (also ``python -m edu_nn``).

    edu-nn info         edu_nn's version, Python's, and a table of the array backends:
                        which are installed, their library versions and devices
    edu-nn assign SOURCE OUT
                        an instructor's assignment folder -> OUT/student, OUT/solution,
                        OUT/autograder (Gradescope) and OUT/autograder.zip, validated
    edu-nn check [PATH] [-k NAME]
                        a student runs the public tests of an assignment on their code
    edu-nn grade SUBMISSION --assignment SOURCE --out results.json
                        grade one submission folder (each graded call sandboxed) into
                        Gradescope's results.json (always written)
    edu-nn grade-all FOLDER --assignment SOURCE -j N --out DIR
                        grade every subfolder of FOLDER in parallel: DIR/<student>/results.json
                        and DIR/gradebook.csv (--engine ray [--address ADDR]: on a Ray
                        cluster, docs/ray.md)

Each subcommand is a pair of functions: ``_add_<name>(subparsers)`` declares its arguments
and ``_run_<name>(args) -> int`` does the work and returns the exit status. A new
subcommand (train, tune, grade, ...) adds its pair and one line in :func:`build_parser`.
With no subcommand, ``edu-nn`` prints its help and exits with status 0.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import platform
import sys
from typing import Sequence

from . import __version__, backends


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edu-nn",
        description="edu_nn: an educational deep-learning framework.",
        epilog="Run 'edu-nn COMMAND --help' for the options of one command.")
    parser.add_argument("--version", action="version", version=f"edu_nn {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_info(subparsers)
    _add_assign(subparsers)
    _add_check(subparsers)
    from .train.cli import add_train_parsers  # train, tune
    add_train_parsers(subparsers)
    _add_grade(subparsers)
    _add_grade_all(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``edu-nn`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return args.run(args)


# -------------------------------------------------------------------- info
def _add_info(subparsers) -> None:
    info = subparsers.add_parser(
        "info", help="show versions and which array backends are installed",
        description="Show edu_nn's and Python's versions and every registered array backend: "
                    "whether its library is installed, the library's version, and the "
                    "devices it can use. Backends whose library is missing are not imported.")
    info.set_defaults(run=_run_info)


def _library_version(library: str) -> str:
    try:
        return importlib.metadata.version(library)
    except importlib.metadata.PackageNotFoundError:
        return "?"


#: The torch the README pins. Installed first, it keeps pip from pulling a multi-GB CUDA
#: build as the torch extra's dependency (tests/test_cli.py checks the README says the same).
TORCH_PIN = "2.13.0"
INSTALL_HINTS = {"torch": f"pip install torch=={TORCH_PIN} && pip install 'edu-nn[torch]' "
                          f"(torch first: unpinned, pip downloads a multi-GB CUDA build)"}


def backend_status(name: str) -> dict[str, str]:
    """One row of the backend table. Imports a backend only when its library is installed
    (find_spec looks without importing), so listing never imports a missing torch or jax."""
    library = backends.backend_library(name)
    if library is not None and importlib.util.find_spec(library) is None:
        hint = (f"needs {library!r}" if name not in backends.LIBRARY_OF
                else INSTALL_HINTS.get(name, f"pip install 'edu-nn[{name}]'"))
        return {"backend": name, "installed": "no", "version": "-", "devices": "-",
                "note": hint}
    try:
        backend = backends.load_backend(name)
        version, devices, note = backend.version(), ",".join(backend.devices()), ""
    except Exception as exc:  # a broken backend must not hide the others
        version = _library_version(library) if library else "?"
        devices, note = "-", f"cannot load: {exc}"
    return {"backend": name, "installed": "yes", "version": version, "devices": devices,
            "note": note}


def _table(rows: list[dict[str, str]], columns: Sequence[str]) -> list[str]:
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in columns) for r in rows]
    return [line.rstrip() for line in lines]


def _run_info(args: argparse.Namespace) -> int:
    names = backends.registered_backends()
    rows = [backend_status(name) for name in names]
    env = os.environ.get("EDU_NN_BACKEND")
    default = env or "numpy"
    lines = [
        f"edu_nn {__version__}",
        f"python {platform.python_version()} ({platform.python_implementation()}, "
        f"{sys.executable})",
        f"platform {platform.platform()}",
        "",
        *_table(rows, ("backend", "installed", "version", "devices", "note")),
        "",
        f"default backend: {default} "
        f"({'from EDU_NN_BACKEND' if env else 'EDU_NN_BACKEND is not set'}); choose with "
        f"backend=..., edu_nn.use_backend(...), edu_nn.set_backend(...) or EDU_NN_BACKEND",
    ]
    if default not in names:
        lines.append(f"warning: EDU_NN_BACKEND={default!r} is not a registered backend "
                     f"(registered: {', '.join(names)}); making a tensor will fail")
    print("\n".join(lines))
    return 0


# -------------------------------------------------------------------- assign
_UNSANDBOXED_HELP = ("grade even where student code cannot be separated from the grader (not "
                     "root); results.json says so; never on a shared grading machine")


def _add_assign(subparsers) -> None:
    assign = subparsers.add_parser(
        "assign", help="make the student version and the Gradescope autograder of an assignment",
        description="Turn an assignment folder (assignment.toml, solution files with "
                    "# BEGIN SOLUTION / # END SOLUTION markers, tests/public_*.py, "
                    "tests/hidden_*.py, drivers/) into OUT/student (what students get), "
                    "OUT/solution (the reference solution under the same file names), "
                    "OUT/autograder (setup.sh, run_autograder, the edu_nn wheel and the "
                    "assignment) and OUT/autograder.zip. Validation: the solution scores full "
                    "marks, the stubs score 0 on every graded test, and no student file shows a "
                    "solution line, a marker or a hidden test.")
    assign.add_argument("source", metavar="SOURCE", help="the assignment folder")
    assign.add_argument("out", metavar="OUT", help="where to write (new, empty, or written by "
                                                   "an earlier edu-nn assign)")
    assign.add_argument("--no-validate", dest="validate", action="store_false",
                        help="skip grading and the leak scan (for drafts); still writes the zip")
    wheel = assign.add_mutually_exclusive_group()
    wheel.add_argument("--wheel", metavar="PATH",
                       help="bundle this edu_nn wheel or sdist (default: build one from this "
                            "checkout)")
    wheel.add_argument("--pypi", action="store_true",
                       help="bundle no wheel: setup.sh installs edu-nn==VERSION from PyPI")
    assign.add_argument("--backend", default="numpy", choices=("numpy", "torch", "jax"),
                        help="the edu_nn backend the autograder grades with (default: numpy)")
    assign.add_argument("--validate-in", default="setup", choices=("setup", "current"),
                        help="where the solution and the stubs are graded: 'setup' (default) "
                             "in an environment built by the generated setup.sh in a "
                             "temporary AUTOGRADER_ROOT, as Gradescope will (needs pip's index "
                             "or cache); 'current' in this environment (fast, for drafts)")
    assign.set_defaults(run=_run_assign)


def _run_assign(args: argparse.Namespace) -> int:
    from .grading.assign import AssignError, assign
    try:
        result = assign(args.source, args.out, validate=args.validate, wheel=args.wheel,
                        pypi=args.pypi, backend=args.backend, validate_in=args.validate_in)
    except AssignError as exc:
        print(f"edu-nn assign: {exc}", file=sys.stderr)
        return 1
    public = sum(t.public for t in result.tests)
    print(f"wrote {result.student}\n      {result.solution}\n      {result.autograder}\n"
          f"      {result.zip}\n{len(result.tests)} tests ({public} public, "
          f"{len(result.tests) - public} hidden); "
          + ("validated: the solution scores full marks, the stubs score 0, no leaks"
             + (" (graded in the environment setup.sh builds)" if args.validate_in == "setup"
                else " (graded in this environment: --validate-in current)")
             if result.validated else "NOT validated (--no-validate)"))
    return 0


# --------------------------------------------------------------------- check
def _add_check(subparsers) -> None:
    check = subparsers.add_parser(
        "check", help="run the public tests of an assignment on your code",
        description="Run the public tests of the assignment in PATH (default: this folder) on "
                    "your code, each graded call in a separate, limited process, and print "
                    "each test's points and feedback. Exit status 0 when every test passes.")
    check.add_argument("path", metavar="PATH", nargs="?", default=".",
                       help="the assignment folder (with assignment.toml); default: here")
    check.add_argument("--backend", default="numpy", choices=("numpy", "torch", "jax"),
                       help="the edu_nn backend your code runs on (default: numpy)")
    check.add_argument("--color", default="auto", choices=("auto", "always", "never"),
                       help="colour the report (default: when printing to a terminal)")
    check.add_argument("-k", dest="select", metavar="NAME",
                       help="run only the public tests whose names contain NAME (as pytest -k)")
    check.set_defaults(run=_run_check)


def _run_check(args: argparse.Namespace) -> int:
    from .grading.check import check
    return check(args.path, backend=args.backend, color=args.color, select=args.select)


# --------------------------------------------------------------------- grade
def _add_grade(subparsers) -> None:
    grade = subparsers.add_parser(
        "grade", help="grade one submission into Gradescope's results.json",
        description="Grade the submission folder SUBMISSION with the tests of the assignment "
                    "SOURCE (the autograder's assignment/ folder written by edu-nn assign, or "
                    "the instructor's folder with markers). Each graded call runs in a fresh "
                    "sandboxed child process; results.json is always written, even when the "
                    "submission cannot be graded or the grader fails.")
    grade.add_argument("submission", metavar="SUBMISSION", help="the submission folder")
    grade.add_argument("--assignment", required=True, metavar="SOURCE",
                       help="the assignment folder (with assignment.toml and tests/)")
    grade.add_argument("--out", default="results.json", metavar="PATH",
                       help="where to write results.json (default: ./results.json)")
    grade.add_argument("--backend", default="numpy", choices=("numpy", "torch", "jax"),
                       help="the edu_nn backend references are computed with (default: numpy)")
    grade.add_argument("--public-only", action="store_true",
                       help="run only tests/public_*.py (as edu-nn check does)")
    grade.add_argument("--unsandboxed", action="store_true", help=_UNSANDBOXED_HELP)
    grade.set_defaults(run=_run_grade)


def _run_grade(args: argparse.Namespace) -> int:
    from .grading.results import failure_results, write_results
    from .grading.sandbox import SandboxUnavailable
    try:
        from .grading.grader import grade_submission
        results = grade_submission(args.submission, args.assignment, backend=args.backend,
                                   include_hidden=not args.public_only,
                                   unsandboxed=args.unsandboxed)
        status = 0
    except SandboxUnavailable as exc:
        print(f"edu-nn grade: {exc}", file=sys.stderr)
        write_results(failure_results("The autograder refused to run your code because it "
                                      "could not sandbox it (not your fault: tell the course "
                                      "staff)."), args.out)
        return 2
    except Exception as exc:  # noqa: BLE001 - a results.json is written whatever happens
        results = failure_results(f"The autograder failed (tell the course staff): "
                                  f"{type(exc).__name__}: {exc}")
        print(f"edu-nn grade: {type(exc).__name__}: {exc}", file=sys.stderr)
        status = 1
    write_results(results, args.out)
    from .grading.notebook import export_written   # written answers, for grading by hand
    for path in export_written(results, args.out):
        print(f"{path}: the written answers, to grade by hand")
    tests = results.get("tests", [])
    top = sum(t.get("max_score", 0) for t in tests)
    print(f"{args.out}: {results.get('score', 0):g} / {top:g} points, "
          f"{sum(t.get('status') == 'passed' for t in tests)} of {len(tests)} tests passed")
    return status


# ----------------------------------------------------------------- grade-all
def _add_grade_all(subparsers) -> None:
    grade_all = subparsers.add_parser(
        "grade-all", help="grade a folder of submissions in parallel into a CSV gradebook",
        description="Grade each submission in FOLDER with the tests of the assignment "
                    "SOURCE. FOLDER is Gradescope's 'Export Submissions' download, unzipped "
                    "(submission_metadata.yml and a folder per submission: names, emails, "
                    "sids and times go into the gradebook), or a folder with one subfolder "
                    "per student. Each submission's files are collected as run_autograder "
                    "does (found by name also in nested folders). Writes "
                    "DIR/<submission>/results.json and DIR/gradebook.csv: a max-points row, "
                    "then per submission its score, status (graded, timeout, ungradable, "
                    "error), grading time, and each test's score and time.")
    grade_all.add_argument("folder", metavar="FOLDER", help="a folder of submission folders")
    grade_all.add_argument("--assignment", required=True, metavar="SOURCE",
                           help="the assignment folder (with assignment.toml and tests/)")
    grade_all.add_argument("--out", required=True, metavar="DIR", help="where to write")
    grade_all.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                           help="grade N submissions at a time (default: 1)")
    grade_all.add_argument("--backend", default="numpy", choices=("numpy", "torch", "jax"),
                           help="the edu_nn backend references are computed with")
    grade_all.add_argument("--due", metavar="TIME",
                           help="the due date, ISO 8601 (e.g. 2026-12-01T23:59-08:00; UTC "
                                "when no offset is given): the gradebook's late column says "
                                "whether each export submission was created after it")
    grade_all.add_argument("--unsandboxed", action="store_true", help=_UNSANDBOXED_HELP)
    grade_all.add_argument("--engine", default="local", choices=("local", "ray"),
                           help="where to grade: 'local' (default: -j N processes here) or "
                                "'ray' (one Ray task per submission on a Ray cluster, the "
                                "files shipped through Ray; pip install \"edu_nn[ray]\"; "
                                "docs/ray.md)")
    grade_all.add_argument("--address", default=None, metavar="ADDR",
                           help="--engine ray: the cluster (host:port from 'ray start "
                                "--head', or 'auto' for the one on this machine; default: a "
                                "private local Ray with -j CPUs)")
    grade_all.add_argument("--max-retries", type=int, default=None, metavar="N",
                           help="--engine ray: reruns of a submission whose worker died "
                                "(default 3); still failing: status error")
    grade_all.set_defaults(run=_run_grade_all)


def _run_grade_all(args: argparse.Namespace) -> int:
    import time

    import datetime

    from ._ray import RayUnavailable
    from .grading.gradebook import grade_all
    from .grading.sandbox import SandboxUnavailable

    due = None
    if args.due:
        try:
            due = datetime.datetime.fromisoformat(args.due.replace("Z", "+00:00"))
        except ValueError:
            print(f"edu-nn grade-all: --due {args.due!r} is not an ISO 8601 time (e.g. "
                  f"2026-12-01T23:59-08:00)", file=sys.stderr)
            return 1
    start = time.perf_counter()
    try:
        rows = grade_all(args.folder, args.assignment, args.out, jobs=args.jobs,
                         backend=args.backend, due=due, unsandboxed=args.unsandboxed,
                         engine=args.engine, address=args.address,
                         max_retries=args.max_retries)
    except (SandboxUnavailable, RayUnavailable) as exc:
        print(f"edu-nn grade-all: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError, RuntimeError) as exc:   # ConnectionError: no Ray at --address
        print(f"edu-nn grade-all: {exc}", file=sys.stderr)
        return 1
    problems = [r for r in rows if r.status != "graded"]
    print(f"graded {len(rows)} submissions in {time.perf_counter() - start:.1f} s "
          + (f"(-j {args.jobs})" if args.engine == "local" else "(on Ray)")
          + f"; gradebook: {os.path.join(args.out, 'gradebook.csv')}"
          + (f"; {len(problems)} to look at (timeout, ungradable or error): "
             + ", ".join(f"{r.student} ({r.status})" for r in problems) if problems else ""))
    return 0
