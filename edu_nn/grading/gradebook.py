"""``edu-nn grade-all FOLDER``: grade every submission in a folder, in parallel, into a CSV.

FOLDER holds one subfolder per student (its name is the student's name in the gradebook),
each holding that student's submitted files. For each one, ``DIR/<student>/results.json``
(Gradescope's format) is written, and ``DIR/gradebook.csv`` gets a row: student, score,
max_score, status (``graded``, ``ungradable`` when the submission could not be graded, or
``error`` when the grader itself failed) and each test's score.
"""
from __future__ import annotations

import csv
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .results import failure_results, write_results

__all__ = ["grade_all", "GradebookRow"]


@dataclass
class GradebookRow:
    student: str
    score: float
    max_score: float
    status: str
    tests: dict[str, float]
    seconds: float


def _grade_one(job: tuple) -> tuple[str, dict, str]:
    student, submission, assignment, backend, results_path, unsandboxed = job
    from .grader import grade_submission
    try:
        results = grade_submission(submission, assignment, backend=backend,
                                   unsandboxed=unsandboxed)
        status = "ungradable" if "cannot be graded" in results.get("output", "") else "graded"
    except Exception as exc:  # noqa: BLE001 - one broken grading must not stop the others
        results = failure_results(f"The grader failed on this submission (tell the course "
                                  f"staff): {type(exc).__name__}: {exc}\n"
                                  f"{traceback.format_exc(limit=5)}")
        status = "error"
    write_results(results, results_path)
    return student, results, status


def grade_all(folder: str | Path, assignment: str | Path, out: str | Path, *, jobs: int = 1,
              backend: str = "numpy", unsandboxed: bool = False) -> list[GradebookRow]:
    """Grade each subfolder of ``folder``; write results and ``out/gradebook.csv``.

    Returns the gradebook rows (sorted by student name).
    """
    folder, out = Path(folder).resolve(), Path(out).resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder of submissions")
    if out == folder or folder in out.parents:
        raise ValueError(f"--out ({out}) must not be inside the submissions folder ({folder})")
    students = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.is_symlink()
                      and not p.name.startswith("."))
    out.mkdir(parents=True, exist_ok=True)
    jobs_list = [(s, folder / s, str(assignment), backend, out / s / "results.json", unsandboxed)
                 for s in students]
    if jobs <= 1:
        done = [_grade_one(job) for job in jobs_list]
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            done = list(pool.map(_grade_one, jobs_list))
    rows = []
    test_names: list[str] = []
    for student, results, status in done:
        tests = {t["name"]: t["score"] for t in results.get("tests", [])}
        test_names += [n for n in tests if n not in test_names]
        rows.append(GradebookRow(student, float(results.get("score", 0.0)),
                                 float(sum(t.get("max_score", 0.0)
                                           for t in results.get("tests", []))),
                                 status, tests, float(results.get("execution_time", 0.0))))
    with open(out / "gradebook.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "score", "max_score", "status", *test_names])
        for r in rows:
            writer.writerow([r.student, f"{r.score:g}", f"{r.max_score:g}", r.status,
                             *(f"{r.tests[n]:g}" if n in r.tests else "" for n in test_names)])
    return rows
