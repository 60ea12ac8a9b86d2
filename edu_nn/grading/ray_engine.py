"""``grade-all --engine ray``: each submission one Ray task, the files shipped through Ray.

The driver (the machine running ``edu-nn grade-all``) packs the assignment folder into one
tar archive in memory and puts it in Ray's object store once (``ray.put``); each submission's
upload folder is packed into its own tar and passed as the task's argument. Nothing relies
on a file system shared by the machines: a worker unpacks both into a temporary folder of
the task, grades with the same function as the local engine
(:func:`~edu_nn.grading.gradebook.grade_upload`: collect as run_autograder does, then the
sandboxed per-call grader, whose jail each worker process builds once, in its own folder:
:func:`worker_folder`) and returns ``(results, status)``. The driver writes results.json
and the gradebook.

A task whose worker process dies (killed, out of memory, its machine lost) is rerun by Ray up
to ``max_retries`` times; one still failing gets a row with status ``error`` and Ray's reason,
so no submission is ever missing.

Ray is imported only when the engine starts (``edu_nn._ray.import_ray``).
"""
from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from .._ray import DEFAULT_MAX_RETRIES, import_ray, ray_session, run_tasks
from .engines import refusal
from .gradebook import GradeJob, crashed_results, grade_upload

__all__ = ["RayEngine", "pack_folder", "unpack", "worker_folder", "grade_packed"]


# ------------------------------------------------------------------ packing
def pack_folder(folder: str | Path, *, skip_dirs: tuple[str, ...] = ()) -> bytes:
    """The regular files (and folders) under ``folder`` as an uncompressed tar, paths
    relative to it. Symbolic links and special files are left out: the grader never follows
    them (collect_submission skips symbolic links), so leaving them out changes no grade."""
    buffer = io.BytesIO()
    root = Path(folder)
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for current, dirs, files in os.walk(root, followlinks=False):
            dirs[:] = sorted(d for d in dirs if d not in skip_dirs
                             and not os.path.islink(os.path.join(current, d)))
            for name in [*dirs, *sorted(files)]:
                path = Path(current) / name
                if path.is_symlink() or not (path.is_file() or path.is_dir()):
                    continue
                tar.add(path, arcname=path.relative_to(root).as_posix(), recursive=False)
    return buffer.getvalue()


def unpack(data: bytes, dest: str | Path) -> Path:
    """Extract a :func:`pack_folder` archive into ``dest`` (tarfile's "data" filter: no
    absolute paths, no ``..``, no links out, no device files)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        if hasattr(tarfile, "data_filter"):     # Python >= 3.10.12 / 3.11.4
            tar.extractall(dest, filter="data")
        else:                                   # older: pack_folder's archives only
            for member in tar.getmembers():
                parts = Path(member.name).parts
                if (not (member.isfile() or member.isdir()) or Path(member.name).is_absolute()
                        or ".." in parts):
                    raise tarfile.TarError(f"refusing to unpack {member.name!r}")
            tar.extractall(dest)
    return dest


# ------------------------------------------------------------------ on a worker
#: The folder each Ray worker process keeps its files in: ``<TMPDIR>/edu-nn-ray-worker-PID-*``.
WORKER_PREFIX = "edu-nn-ray-worker-"
_worker_dir: Path | None = None


def worker_folder() -> Path:
    """This worker process's own temporary folder, made TMPDIR on its first task: the
    sandbox's jail (~150 MB, built once per worker) and every task's files go there.

    Ray ends its workers without running their exit handlers (a cluster that stops, a job
    that ends, a worker killed), so nothing a worker made would be removed by the worker
    itself. Instead a new worker first removes the folders of workers that no longer run
    (the PID in the name is gone), so at most one folder per worker process of the last
    run stays on each machine."""
    global _worker_dir
    if _worker_dir is None or not _worker_dir.is_dir():
        base = Path(tempfile.gettempdir())
        remove_folders_of_gone_workers(base)
        _worker_dir = Path(tempfile.mkdtemp(prefix=f"{WORKER_PREFIX}{os.getpid()}-",
                                            dir=base))
        os.environ["TMPDIR"] = tempfile.tempdir = str(_worker_dir)
        # A jail named by the environment belongs to whoever started the cluster (a grading
        # process's EDU_NN_JAIL, inherited through `ray start`): build this worker's own, so
        # that a killed worker's leftovers stay in its folder and never in another's jail.
        os.environ.pop("EDU_NN_JAIL", None)
    return _worker_dir


def remove_folders_of_gone_workers(base: Path) -> list[Path]:
    """Remove ``base``'s worker folders whose process is gone; returns them."""
    removed = []
    for folder in base.glob(f"{WORKER_PREFIX}*"):
        pid = folder.name[len(WORKER_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or not folder.is_dir() or folder.is_symlink():
            continue
        try:
            os.kill(int(pid), 0)
            continue                       # still running (ours or another job's)
        except ProcessLookupError:
            pass
        except PermissionError:
            continue                       # running, as another user
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def grade_packed(assignment_name: str, assignment: bytes, student: str, upload: bytes,
                 backend: str, unsandboxed: bool) -> tuple[dict, str]:
    """One Ray task: unpack, grade as the local engine does, return ``(results, status)``.

    Both archives are unpacked into one temporary folder of this task (in the worker's own
    folder), removed when it ends: an assignment unpacks in milliseconds, so no copy is
    kept between tasks."""
    worker_folder()
    with tempfile.TemporaryDirectory(prefix="edu-nn-ray-task-") as tmp:
        try:
            folder = unpack(assignment, Path(tmp) / "assignment" / assignment_name)
            where = unpack(upload, Path(tmp) / "upload" / student)
        except (tarfile.TarError, OSError) as exc:   # e.g. a file name the filter refuses
            from .results import failure_results
            return failure_results(f"The grader could not unpack this submission on its "
                                   f"Ray worker (tell the course staff): {type(exc).__name__}: "
                                   f"{exc}"), "error"
        return grade_upload(where, folder, backend, unsandboxed)


def worker_protections() -> tuple[bool, str]:
    """On a worker: can graded calls be jailed there, and if not, why."""
    from .sandbox import protections
    worker_folder()                        # the jail is built there
    prot = protections()
    return prot.jail, prot.why


# ------------------------------------------------------------------ the engine
class RayEngine:
    """Grade on a Ray cluster: ``address`` (None: a private local Ray with ``num_cpus``
    CPUs); ``max_retries`` reruns of a task whose worker died (default 3)."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None,
                 max_retries: int | None = None) -> None:
        if max_retries is not None and (not isinstance(max_retries, int) or max_retries < 0):
            raise ValueError(f"--max-retries must be an integer >= 0, got {max_retries!r}")
        import_ray()          # RayUnavailable (with the pip command) before any work
        self.address, self.num_cpus = address, num_cpus
        self.max_retries = DEFAULT_MAX_RETRIES if max_retries is None else max_retries
        self._session = None
        self.ray = None

    def __enter__(self) -> "RayEngine":
        self._session = ray_session(self.address, self.num_cpus)
        self.ray = self._session.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        session, self._session, self.ray = self._session, None, None
        if session is not None:
            session.__exit__(*exc)

    def check_sandbox(self, unsandboxed: bool) -> None:
        """Ask a worker (not this driver) whether it can jail graded calls."""
        from .sandbox import SandboxUnavailable
        [(ok, value)] = run_tasks(self.ray, worker_protections, [()],
                                  max_retries=self.max_retries)
        if not ok:
            raise RuntimeError(f"a Ray worker could not report its sandbox: {value}")
        jail, why = value
        if not jail and not unsandboxed:
            raise SandboxUnavailable(refusal(why, where="on the Ray workers"))

    def grade(self, jobs: list[GradeJob], on_done=None) -> list[tuple[dict, str]]:
        """One task per job; ``on_done(index, outcome)`` as each finishes (any order)."""
        if not jobs:
            return []
        assignments = {job.assignment for job in jobs}
        if len(assignments) != 1:
            raise ValueError(f"one grade-all run grades one assignment, got {len(assignments)}")
        source = Path(next(iter(assignments))).resolve()
        shared = self.ray.put(pack_folder(source, skip_dirs=("__pycache__",)))  # once
        args = [(source.name, shared, job.student, pack_folder(job.upload),
                 job.backend, job.unsandboxed) for job in jobs]
        tries = 1 + self.max_retries

        def outcome(ok: bool, value) -> tuple[dict, str]:
            return value if ok else crashed_results(
                f"on Ray, {tries} tr{'y' if tries == 1 else 'ies'}: {value}")

        def done(i: int, ok: bool, value) -> None:
            if on_done is not None:
                on_done(i, outcome(ok, value))

        return [outcome(ok, value) for ok, value in
                run_tasks(self.ray, grade_packed, args, max_retries=self.max_retries,
                          on_done=done)]
