"""``edu-nn grade-all FOLDER``: grade every submission in a folder, in parallel, into a CSV.

FOLDER is either

- Gradescope's "Export Submissions" download, unzipped: ``submission_metadata.yml`` and one
  folder per submission (``submission_<id>/``). The metadata maps each folder to its
  submitters (``:name:``, ``:email:``, ``:sid:``), its ``:created_at:`` time and more; the
  gradebook gets the names, emails, sids and times, and, with ``due=``, whether it was late
  (``created_at`` after the due date: the export itself records no lateness); or
- a plain folder with one subfolder per student (its name is the student in the gradebook).

Each submission's files are collected the way ``run_autograder`` does on Gradescope
(:func:`edu_nn.grading.assign.collect_submission`: the manifest's files, found by name also
when the upload is nested in a folder), then graded. ``OUT/<folder>/results.json``
(Gradescope's format) is written for each, and ``OUT/gradebook.csv`` gets:

- a header, then a ``(max points)`` row with each test's points and the total;
- one row per submission: student, name, email, sid, created_at, late, score, max_score,
  status, seconds (the submission's grading time), each test's score, and each test's time
  in seconds (``<test> s`` columns, the time its graded calls took).

status is ``graded``; ``timeout`` when a test hit its time limit (its points are 0 and the
score may be worth a look); ``ungradable`` when the submission could not be graded (missing
file, syntax error: the student sees why in results.json); or ``error`` when the grader itself
failed on it. Every submission gets a row, whatever happens to the others.

Where the submissions are graded is an engine's business (:mod:`edu_nn.grading.engines`:
``-j N`` processes here, or one Ray task per submission with ``engine="ray"``); every engine
runs :func:`grade_upload` on each, and this module (the driver) writes the files.
"""
from __future__ import annotations

import csv
import datetime as _dt
import re
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from .results import failure_results, write_results

__all__ = ["grade_all", "grade_upload", "GradeJob", "GradebookRow", "read_export_metadata",
           "METADATA_NAME", "MAX_POINTS_ROW"]

#: The metadata file of Gradescope's "Export Submissions" download.
METADATA_NAME = "submission_metadata.yml"
#: The ``student`` cell of the gradebook row that holds each test's points.
MAX_POINTS_ROW = "(max points)"


@dataclass(frozen=True)
class GradeJob:
    """One submission to grade (what an engine needs; results are written by the driver)."""
    student: str                 # the submission's folder name
    upload: Path                 # the folder as exported (collected where it is graded)
    assignment: Path             # the autograder's assignment folder or the source folder
    backend: str = "numpy"
    unsandboxed: bool = False


@dataclass
class GradebookRow:
    student: str                 # the submission's folder name
    score: float
    max_score: float
    status: str                  # graded | timeout | ungradable | error
    tests: dict[str, float]
    seconds: float
    test_seconds: dict[str, float] = field(default_factory=dict)
    max_points: dict[str, float] = field(default_factory=dict)
    name: str = ""
    email: str = ""
    sid: str = ""
    created_at: str = ""
    late: str = ""               # "yes", "no", or "" when unknown (no due date given)


def read_export_metadata(folder: str | Path) -> dict[str, dict]:
    """``submission_metadata.yml`` of a Gradescope export as ``{folder name: {"name",
    "email", "sid", "created_at"}}`` (group submissions: the submitters joined by "; ");
    ``{}`` when the folder has none. ``created_at`` is a timezone-aware datetime or None."""
    path = Path(folder) / METADATA_NAME
    if not path.is_file():
        return {}
    try:
        import yaml
    except ModuleNotFoundError:
        raise RuntimeError(f"{path}: reading Gradescope's export needs PyYAML: pip install "
                           f"'edu-nn[grading]' (or pip install pyyaml)") from None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of submission folders to their "
                         f"metadata (Gradescope's export), got {type(data).__name__}")
    out = {}
    for key, entry in data.items():
        entry = entry if isinstance(entry, dict) else {}
        people = [p for p in entry.get(":submitters") or [] if isinstance(p, dict)]
        created = entry.get(":created_at")
        if isinstance(created, str):
            created = _parse_time(created)
        if isinstance(created, _dt.datetime) and created.tzinfo is None:
            created = created.replace(tzinfo=_dt.timezone.utc)
        out[str(key)] = {
            "name": "; ".join(str(p.get(":name") or "") for p in people),
            "email": "; ".join(str(p.get(":email") or "") for p in people),
            "sid": "; ".join(str(p.get(":sid") or "") for p in people),
            "created_at": created if isinstance(created, _dt.datetime) else None}
    return out


def _parse_time(text: str) -> _dt.datetime | None:
    """An ISO-like time (``2026-12-01 23:59:00 -0800``, ``2026-12-01T23:59:00+00:00``)."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.strip())          # nanoseconds -> micro
    text = re.sub(r"\s+([+-]\d\d):?(\d\d)$", r"\1:\2", text)      # " -07:00" -> "-07:00"
    try:
        return _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _timed_out(test: dict) -> bool:
    extra = test.get("extra_data") or {}
    return bool(extra.get("timed_out"))


def grade_upload(upload: str | Path, assignment: str | Path, backend: str = "numpy",
                 unsandboxed: bool = False) -> tuple[dict, str]:
    """Collect one submission as run_autograder does and grade it: ``(results, status)``.

    Runs wherever the engine puts it (this process, a pool worker, a Ray worker); writes
    nothing outside a temporary folder (the driver writes results.json). A grader failure is
    a result with status ``error``, never an exception."""
    try:
        from .assign import collect_submission
        from .grader import grade_submission
        with tempfile.TemporaryDirectory(prefix="edu-nn-grade-all-") as tmp:
            submission = Path(tmp) / "submission"
            collect_submission(upload, submission, assignment)
            results = grade_submission(submission, assignment, backend=backend,
                                       unsandboxed=unsandboxed)
        if "cannot be graded" in str(results.get("output", "")):
            status = "ungradable"
        elif any(_timed_out(t) for t in results.get("tests", [])):
            status = "timeout"
        else:
            status = "graded"
    except Exception as exc:  # noqa: BLE001 - one broken grading must not stop the others
        results = failure_results(f"The grader failed on this submission (tell the course "
                                  f"staff): {type(exc).__name__}: {exc}\n"
                                  f"{traceback.format_exc(limit=5)}")
        status = "error"
    return results, status


def crashed_results(why: str) -> tuple[dict, str]:
    """The outcome of a submission whose worker died (engine-specific ``why``)."""
    return failure_results(f"The grader's worker process failed while grading this "
                           f"submission (tell the course staff): {why}"), "error"


def _write_outcome(results: dict, results_path: Path) -> None:
    """results.json and, for written answers, results.written.html (by the driver)."""
    write_results(results, results_path)
    from .notebook import export_written
    export_written(results, results_path)


def grade_all(folder: str | Path, assignment: str | Path, out: str | Path, *, jobs: int = 1,
              backend: str = "numpy", unsandboxed: bool = False,
              due: _dt.datetime | None = None, engine: str = "local",
              address: str | None = None,
              max_retries: int | None = None) -> list[GradebookRow]:
    """Grade each submission folder of ``folder``; write results and ``out/gradebook.csv``.

    Args:
        folder: a Gradescope export (with submission_metadata.yml) or one folder per student.
        assignment: the autograder's assignment folder, or the instructor's source folder.
        out: where ``<submission>/results.json`` and ``gradebook.csv`` go.
        jobs: submissions graded at a time (worker processes started with "spawn": JAX may
            be loaded here, and forking a process that runs JAX's threads can deadlock).
        backend: the edu_nn backend references are computed with.
        unsandboxed: grade even where student code cannot be separated from the grader.
        due: the due date; a submission created after it is marked late (needs the export's
            created_at). A naive datetime is taken as UTC.
        engine: where submissions are graded: ``"local"`` (this machine: ``jobs`` processes)
            or ``"ray"`` (one Ray task per submission, the files shipped through Ray; needs
            ``pip install "edu_nn[ray]"``). Same gradebook either way (docs/ray.md).
        address: ``engine="ray"``: the cluster to use (``ray start`` prints it; ``"auto"``:
            the one on this machine); None: a local Ray with ``jobs`` CPUs.
        max_retries: ``engine="ray"``: reruns of a submission whose worker died (default 3).

    Returns:
        The gradebook rows, sorted by folder name (without the max-points row).
    """
    folder, out = Path(folder).resolve(), Path(out).resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder of submissions")
    if out == folder or folder in out.parents:
        raise ValueError(f"--out ({out}) must not be inside the submissions folder ({folder})")
    if due is not None and due.tzinfo is None:
        due = due.replace(tzinfo=_dt.timezone.utc)
    from .engines import make_engine
    grader = make_engine(engine, jobs=jobs, address=address, max_retries=max_retries)
    metadata = read_export_metadata(folder)
    students = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.is_symlink()
                      and not p.name.startswith("."))
    jobs_list = [GradeJob(s, folder / s, Path(assignment), backend, unsandboxed)
                 for s in students]
    written: dict[int, tuple[dict, str]] = {}

    def write(i: int, outcome: tuple[dict, str]) -> None:
        """results.json of a finished submission, as soon as it is known."""
        results, status = outcome
        try:
            _write_outcome(results, out / jobs_list[i].student / "results.json")
        except OSError as exc:   # a full disk, a file in the way: still a row
            results, status = failure_results(f"The grader could not write this "
                                              f"submission's results (tell the course staff): "
                                              f"{type(exc).__name__}: {exc}"), "error"
        written[i] = (results, status)

    with grader:
        grader.check_sandbox(unsandboxed)  # refuse before anything, not once per submission
        out.mkdir(parents=True, exist_ok=True)
        outcomes = grader.grade(jobs_list, on_done=write)
    for i, outcome in enumerate(outcomes):
        if i not in written:          # an engine that did not report it: write it now
            write(i, outcome)
    done = [(job.student, *written[i]) for i, job in enumerate(jobs_list)]

    rows = []
    for student, results, status in done:
        tests = results.get("tests", [])
        meta = metadata.get(student, {})
        created = meta.get("created_at")
        rows.append(GradebookRow(
            student, float(results.get("score", 0.0)),
            float(sum(t.get("max_score", 0.0) for t in tests)), status,
            {t["name"]: float(t.get("score", 0.0)) for t in tests},
            float(results.get("execution_time", 0.0)),
            {t["name"]: float((t.get("extra_data") or {}).get("call_seconds") or 0.0)
             for t in tests},
            {t["name"]: float(t.get("max_score", 0.0)) for t in tests},
            name=meta.get("name", ""), email=meta.get("email", ""), sid=meta.get("sid", ""),
            created_at=created.isoformat() if created else "",
            late=("yes" if created > due else "no") if created and due else ""))
    _write_gradebook(rows, out / "gradebook.csv")
    return rows


def _write_gradebook(rows: list[GradebookRow], path: Path) -> None:
    test_names: list[str] = []
    points: dict[str, float] = {}
    for r in rows:
        test_names += [n for n in r.tests if n not in test_names]
        for n, p in r.max_points.items():
            points[n] = max(points.get(n, 0.0), p)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "name", "email", "sid", "created_at", "late", "score",
                         "max_score", "status", "seconds", *test_names,
                         *(f"{n} s" for n in test_names)])
        writer.writerow([MAX_POINTS_ROW, "", "", "", "", "", f"{sum(points.values()):g}",
                         f"{sum(points.values()):g}", "", "",
                         *(f"{points[n]:g}" for n in test_names), *("" for _ in test_names)])
        for r in rows:
            writer.writerow([r.student, r.name, r.email, r.sid, r.created_at, r.late,
                             f"{r.score:g}", f"{r.max_score:g}", r.status, f"{r.seconds:.3f}",
                             *(f"{r.tests[n]:g}" if n in r.tests else "" for n in test_names),
                             *(f"{r.test_seconds[n]:.3f}" if n in r.test_seconds else ""
                               for n in test_names)])
