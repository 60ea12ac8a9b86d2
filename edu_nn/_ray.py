"""Ray, for ``--engine ray`` of ``edu-nn grade-all`` and ``edu-nn tune`` (docs/ray.md).

Nothing in edu_nn imports Ray except through :func:`import_ray`, and only when a Ray engine
is asked for, so edu_nn works (and imports fast) without it. This module depends on nothing
else in edu_nn: the grader (edu_nn.grading.ray_engine) and the tuner (edu_nn.train.tuner)
both use it.

    with ray_session(address) as ray:                # connects, or starts a local Ray
        outcomes = run_tasks(ray, fn, [args1, args2], max_retries=3)
        # [(True, value) or (False, TaskFailed("WorkerCrashedError: ...")), ...] in order
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Sequence

__all__ = ["RAY_INSTALL", "RayUnavailable", "import_ray", "ray_session", "run_tasks",
           "TaskFailed", "DEFAULT_MAX_RETRIES"]

#: What to run when Ray is missing (every "needs Ray" message says it).
RAY_INSTALL = 'pip install "edu_nn[ray]"'
#: Times Ray reruns a task whose worker process died (Ray's own default for tasks).
DEFAULT_MAX_RETRIES = 3


class RayUnavailable(RuntimeError):
    """``--engine ray`` was asked for, but Ray is not installed (or not importable)."""


def import_ray():
    """The ``ray`` module, or :class:`RayUnavailable` saying how to install it."""
    try:
        import ray
    except ImportError as exc:    # ModuleNotFoundError, or a broken install
        raise RayUnavailable(f"--engine ray needs Ray, which is not installed here: "
                             f"{RAY_INSTALL} ({exc})") from None
    return ray


@contextlib.contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[Any]:
    """Ray, connected for the duration of the ``with``.

    Args:
        address: a running cluster (``ray start --head`` prints it; ``"auto"``: the one
            started on this machine). None: a Ray already initialised in this process (a
            notebook's own ``ray.init(runtime_env=...)``), else a private local one.
        num_cpus: CPUs of the private local Ray (None: all of this machine's); ignored when
            connecting to a cluster.

    Yields the ``ray`` module. A connection or local Ray made here is shut down at the end;
    one that was already there is left as it was.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
    if address is None:
        kwargs.update(num_cpus=num_cpus, include_dashboard=False)
    ray.init(address=address, **kwargs)
    try:
        yield ray
    finally:
        ray.shutdown()


def run_tasks(ray, fn: Callable, arg_lists: Sequence[Sequence], *,
              max_retries: int = DEFAULT_MAX_RETRIES,
              on_done: Callable[[int, bool, Any], None] | None = None) -> list[tuple[bool, Any]]:
    """Run ``fn(*args)`` as one Ray task per entry of ``arg_lists``; wait for all of them.

    A task whose worker process dies (killed, out of memory, its node lost) is rerun by Ray up
    to ``max_retries`` times. An exception raised by ``fn`` itself is not retried (it would
    raise again): like a task still failing after its retries, it comes back as
    ``(False, TaskFailed)`` (``str()``: ``"<ErrorType>: <message>"``), so one bad task never
    hides the others' results.

    Args:
        fn: a module-level function (the workers import it by its module and name).
        arg_lists: one tuple of arguments per task (``ray.ObjectRef``s are passed as their
            values: ship big shared data once with ``ray.put``).
        on_done: called as ``on_done(index, ok, value)`` as each task finishes (in the order
            they finish), e.g. to save progress.

    Returns:
        ``(True, value)`` or ``(False, TaskFailed)`` per task, in the order of ``arg_lists``.
    """
    remote = ray.remote(fn).options(max_retries=max_retries, retry_exceptions=False)
    pending = {remote.remote(*args): i for i, args in enumerate(arg_lists)}
    outcomes: list[tuple[bool, Any] | None] = [None] * len(pending)
    waiting = list(pending)
    while waiting:
        done, waiting = ray.wait(waiting, num_returns=1)
        for ref in done:
            i = pending[ref]
            try:
                outcomes[i] = (True, ray.get(ref))
            except ray.exceptions.RayError as exc:
                outcomes[i] = (False, failure(exc))
            if on_done is not None:
                on_done(i, *outcomes[i])
    return outcomes  # type: ignore[return-value]


class TaskFailed:
    """Why a task gave no value: ``raised`` (the exception ``fn`` raised, when it did: not
    retried) or only ``reason`` (its worker died on every try, its node was lost, ...)."""

    def __init__(self, reason: str, raised: BaseException | None = None) -> None:
        self.reason, self.raised = reason, raised

    def __str__(self) -> str:
        return self.reason

    def __repr__(self) -> str:
        return f"TaskFailed({self.reason!r})"


def failure(exc: BaseException) -> TaskFailed:
    """A :class:`TaskFailed` with one readable line for a failed task's error."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):     # RayTaskError: the task's own exception
        return TaskFailed(f"{type(cause).__name__}: {cause}", cause)
    text = " ".join(str(exc).split())
    return TaskFailed(f"{type(exc).__name__}: {text[:600]}")
