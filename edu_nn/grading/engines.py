"""Where ``grade-all`` grades: the engines behind ``--engine local|ray``.

An engine takes the submissions (:class:`~edu_nn.grading.gradebook.GradeJob`) and gives back
one ``(results, status)`` per submission, in the same order, whatever happens to the worker
that graded it; the driver (:func:`~edu_nn.grading.gradebook.grade_all`) writes results.json
and the gradebook. Every engine runs the same function on each submission,
:func:`~edu_nn.grading.gradebook.grade_upload` (collect the files as run_autograder does,
then the sandboxed per-call grader), so the gradebooks are equal.

    with make_engine("local", jobs=2) as engine:
        engine.check_sandbox(unsandboxed=False)    # refuse where no jail can be built
        outcomes = engine.grade(jobs, on_done)      # on_done(i, outcome): as each finishes

- :class:`LocalEngine`: this machine; ``jobs`` worker processes (or this process for 1).
- :class:`~edu_nn.grading.ray_engine.RayEngine`: one Ray task per submission on a Ray
  cluster (imported only when asked for; Ray is an optional extra).
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Callable

from .gradebook import GradeJob, crashed_results, grade_upload

__all__ = ["ENGINES", "LocalEngine", "make_engine"]

#: The names ``--engine`` accepts.
ENGINES = ("local", "ray")
#: ``on_done(index, (results, status))``: called as each submission's outcome is known (the
#: driver writes its results.json then, so a long run shows its progress on disk).
OnDone = Callable[[int, tuple[dict, str]], None]


def _grade_job(job: GradeJob) -> tuple[dict, str]:
    """A pool worker's task (module level, so it pickles by name)."""
    return grade_upload(job.upload, job.assignment, job.backend, job.unsandboxed)


class LocalEngine:
    """Grade on this machine: in this process (``jobs=1``) or in ``jobs`` worker processes
    started with "spawn" (JAX may be loaded here, and forking a process that runs JAX's
    threads can deadlock). Workers reuse the jail this process builds (EDU_NN_JAIL)."""

    name = "local"

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = jobs  # checked by make_engine (>= 1: nothing coerced)

    def __enter__(self) -> "LocalEngine":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def check_sandbox(self, unsandboxed: bool) -> None:
        """Raise SandboxUnavailable where graded calls cannot be jailed (unless allowed)."""
        from .sandbox import SandboxUnavailable, protections
        prot = protections()      # builds the jail once; the workers inherit its path
        if not prot.jail and not unsandboxed:
            raise SandboxUnavailable(refusal(prot.why))

    def grade(self, jobs: list[GradeJob], on_done: OnDone | None = None
              ) -> list[tuple[dict, str]]:
        outcomes: list[tuple[dict, str]] = []

        def done(outcome: tuple[dict, str]) -> None:
            outcomes.append(outcome)
            if on_done is not None:
                on_done(len(outcomes) - 1, outcome)

        if self.jobs <= 1:
            for job in jobs:
                done(_grade_job(job))
            return outcomes
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=self.jobs, mp_context=context) as pool:
            futures = [pool.submit(_grade_job, job) for job in jobs]
            for future in futures:
                try:
                    outcome = future.result()
                except Exception as exc:  # noqa: BLE001 - a dead worker: still a row
                    outcome = crashed_results(f"{type(exc).__name__}: {exc}")
                done(outcome)
        return outcomes


def refusal(why: str, where: str = "here") -> str:
    """The message of grade-all's refusal to grade without a jail."""
    return (f"refusing to grade: student code cannot be separated from the grader {where} "
            f"({why}). Grade as root (e.g. in a container), or pass --unsandboxed (never on "
            f"a shared grading machine).")


def make_engine(name: str, *, jobs: int = 1, address: str | None = None,
                max_retries: int | None = None):
    """The engine called ``name`` (one of :data:`ENGINES`).

    Raises:
        ValueError: an unknown name, or Ray's options given to the local engine.
        edu_nn._ray.RayUnavailable: ``"ray"`` without Ray installed (says how to install it).
    """
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"-j/jobs must be a whole number >= 1 (submissions graded at a time), "
                         f"got {jobs!r}")
    if name == "local":
        if address is not None or max_retries is not None:
            raise ValueError("--address and --max-retries are options of --engine ray; the "
                             "local engine grades on this machine (-j N processes)")
        return LocalEngine(jobs)
    if name == "ray":
        if address is not None and jobs > 1:  # would be ignored: say so instead
            raise ValueError(f"-j {jobs} has no effect with --address: on a cluster, the CPUs "
                             f"its nodes were started with ('ray start --num-cpus N') decide "
                             f"how many submissions are graded at a time; leave -j out")
        from .ray_engine import RayEngine    # imports Ray itself only when started
        # -j N without --address: a private local Ray with N CPUs (-j 1, the default: all)
        return RayEngine(address=address,
                         num_cpus=jobs if address is None and jobs > 1 else None,
                         max_retries=max_retries)
    raise ValueError(f"unknown engine {name!r}: choose one of {', '.join(ENGINES)}")
