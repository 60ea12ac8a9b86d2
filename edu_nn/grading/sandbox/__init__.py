"""The sandbox: run one call of untrusted code under limits; get back checked plain data or a reason.

This room is meant to be read and audited on its own. Its one door is :func:`run_call`::

    result = run_call(config, "call", "ops.py", "relu_backward", (x, g), {}, timeout=10)
    result.ok, result.value / result.error, result.output, result.seconds

and :func:`protections` says what isolation this machine gives. Nothing here imports the
student's code, and the student's code never sees edu_nn.

How a call runs (``mode == "jail"``: the grader is root, as on Gradescope and in CI):

- a fresh uid of its own (``jail.UidLease``) and a fresh 0700 folder of that uid inside the
  jail, holding copies of the manifest's files, the trusted drivers and a private TMPDIR;
- ``chroot JAIL python -I -S -B /edu_nn_child.py`` in a new session, with an empty
  environment; the child (``child.py``) enters network/IPC and PID namespaces where root has
  them, sets limits, drops to its uid, says "ready" on a status descriptor, then runs the call;
- the arguments, the result, the status and the printed output travel through descriptors of
  unlinked files the parent opened itself, so no path the child controls is ever opened here;
- after the wall-time limit (or the child's exit) the session is killed, then every process of
  the uid (``kill -9 -1`` as that uid), its SysV IPC objects and its folder are removed.

Where no jail can be built (not root), ``run_call`` refuses unless the caller allows
``unsandboxed`` (``edu-nn check``: a student running their own code; ``edu-nn grade
--unsandboxed``: an instructor's explicit choice): then the child runs as the grading user with
resource limits and an empty environment only, and the results say so.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .jail import CHILD_SOURCE, Jail, UidLease, signal_name
from .wire import MAX_RESULT_BYTES, WireError, decode_result, encode_call, encode_value

__all__ = ["CallResult", "SandboxConfig", "Protections", "protections", "run_call",
           "SandboxUnavailable", "encode_value", "WireError", "BLOCKED"]

#: Libraries a graded call may never import (the jail has none of them; the message explains).
BLOCKED = ("torch", "jax", "jaxlib", "functorch", "tensorflow")
MAX_FILE_BYTES = 64 * 2 ** 20           # RLIMIT_FSIZE: any one file the child writes
MAX_OUTPUT_CHARS = 4000                 # printed output kept per call
MAX_OPEN_FILES = 256
NPROC = 16                              # processes of one call's uid (fork bombs stop here)
STARTUP_S = 2.0                         # wall time allowed on top of the timeout for start-up
ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "NUMEXPR_NUM_THREADS": "1", "LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
       "PYTHONHASHSEED": "0", "PATH": "/usr/bin:/bin"}
#: Machine settings a child may need to run numpy correctly (not secrets), passed through.
PASS_THROUGH = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "LD_LIBRARY_PATH")


_CHROOT = shutil.which("chroot", path="/usr/sbin:/sbin:/usr/bin:/bin")


class SandboxUnavailable(RuntimeError):
    """Student code cannot be separated from the grader here, and unsandboxed was not allowed."""


@dataclass
class SandboxConfig:
    """What every graded call of one submission shares."""
    files: dict[str, Path]              # manifest name -> the submitted file (parent's path)
    drivers: dict[str, Path]            # driver name -> trusted file (parent's path)
    memory_mb: int = 1024
    block_imports: list[str] = field(default_factory=list)  # on top of BLOCKED (manifest's)
    unsandboxed: bool = False           # allowed to run without a jail where none can be built
    hung: dict[str, str] = field(default_factory=dict)  # submitted file -> why its import hangs


@dataclass
class CallResult:
    ok: bool                            # the call returned a value (already decoded)
    value: object = None
    error: str = ""                     # why not, written for the student
    output: str = ""                    # what the child printed (truncated)
    seconds: float = 0.0
    raised: bool = False                # error is an exception of the student's code
    timed_out: bool = False             # stopped for taking too long (wall or CPU time)
    staff: str = ""                     # a problem of the grader's, for the course staff


@dataclass
class Protections:
    """Which isolation graded calls get on this machine, and why any is off."""
    mode: str                           # "jail" or "unsandboxed"
    netns: bool = False
    pidns: bool = False
    no_sockets: bool = False
    why: str = ""                       # why there is no jail (mode "unsandboxed")
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def jail(self) -> bool:
        return self.mode == "jail"

    def summary(self) -> dict:
        on = {"fresh process per call, wall-time and resource limits, empty environment": True,
              "jail: only the interpreter, numpy and the call's own files are visible": self.jail,
              "own uid per call, never shared while any process of it lives": self.jail,
              "no sockets (seccomp filter)": self.no_sockets,
              "no network (own network and IPC namespaces)": self.netns,
              "own PID namespace (every process ends with the call)": self.pidns}
        return {"mode": self.mode,
                "on": [k for k, v in on.items() if v],
                "off": {k: self.notes.get(k, self.why or "unavailable")
                        for k, v in on.items() if not v}}

    def staff_note(self) -> str:
        off = self.summary()["off"]
        return ("sandbox protections off: " + "; ".join(f"{k} ({why})" for k, why in off.items())
                if off else "")


_PROTECTIONS: Protections | None = None
_PROBE_LOCK = threading.Lock()


# --------------------------------------------------------------- the machine
def _memory_limit_mb() -> float | None:
    """The memory this container may use (cgroup v2 or v1), in MB; None when unlimited."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2 ** 60:
            return int(text) / 2 ** 20
        return None
    return None


def protections() -> Protections:
    """Find (once per process) what isolation graded calls get here, by probing a child that
    runs no student code."""
    with _PROBE_LOCK:
        return _PROTECTIONS or _find_protections()


def _find_protections() -> Protections:
    global _PROTECTIONS
    if os.geteuid() != 0:
        _PROTECTIONS = Protections("unsandboxed", why="the grader is not root, so student code "
                                   "cannot get a uid and a jail of its own (grade as root, e.g. "
                                   "in a container, as on Gradescope)")
        return _PROTECTIONS
    if _CHROOT is None or shutil.which("kill", path=ENV["PATH"]) is None:
        _PROTECTIONS = Protections("unsandboxed", why="chroot or kill is not installed")
        return _PROTECTIONS
    namespaces = os.environ.get("EDU_NN_SANDBOX_NAMESPACES", "1") != "0"
    try:
        jail = Jail.get()
    except (OSError, subprocess.SubprocessError) as exc:
        _PROTECTIONS = Protections("unsandboxed", why=f"the jail could not be built: {exc}")
        return _PROTECTIONS
    # the strongest set that comes up here: namespaces need CAP_SYS_ADMIN (not on Gradescope)
    tries = [{"netns": True, "pidns": True, "no_sockets": True}] if namespaces else []
    tries += [{"no_sockets": True}, {}]
    failed: dict = {} if namespaces else {"netns": "turned off (EDU_NN_SANDBOX_NAMESPACES=0)",
                                          "pidns": "turned off (EDU_NN_SANDBOX_NAMESPACES=0)"}
    for layers in tries:
        report = _spawn(jail, "probe", "", "", (), {}, 30.0, SandboxConfig({}, {}), **layers)
        if report and report.get("ready") and report.get("numpy") == "ok" and \
                not any((report.get("sees") or {}).values()):
            break
        for key, why in ((report or {}).get("failed") or {"jail": "the probe failed"}).items():
            failed.setdefault(key, why)
    else:
        _PROTECTIONS = Protections("unsandboxed", why=f"a jailed child could not start "
                                                      f"({failed})")
        return _PROTECTIONS
    p = Protections("jail", netns=bool(layers.get("netns")), pidns=bool(layers.get("pidns")),
                    no_sockets=bool(layers.get("no_sockets")))
    names = {"netns": "no network (own network and IPC namespaces)",
             "pidns": "own PID namespace (every process ends with the call)",
             "no_sockets": "no sockets (seccomp filter)"}
    p.notes = {names[k]: why for k, why in failed.items() if k in names}
    _PROTECTIONS = p
    return p


# -------------------------------------------------------------------- a call
def run_call(config: SandboxConfig, kind: str, file: str, qualname: str, args: tuple,
             kwargs: dict, timeout: float) -> CallResult:
    """Run ``file``'s ``qualname(*args, **kwargs)`` in a fresh sandboxed child.

    Args:
        kind: "call" (``file`` is a submission file), "run" (``file`` is a driver), or
            "import" (only import ``file``, a submission file or driver: a probe for hangs).
        timeout: wall-time limit in seconds (plus a little start-up time).

    Returns:
        A :class:`CallResult`; never raises for anything the student's code does.

    Raises:
        SandboxUnavailable: no jail here and ``config.unsandboxed`` is False.
    """
    prot = protections()
    if not prot.jail and not config.unsandboxed:
        raise SandboxUnavailable(
            f"student code cannot be graded safely here: {prot.why}. Pass --unsandboxed "
            f"(grade_submission(..., unsandboxed=True)) to grade anyway with the student's code "
            f"running as this user; never do that on a shared grading machine.")
    jail = Jail.get() if prot.jail else None
    return _spawn(jail, kind, file, qualname, args, kwargs, timeout, config,
                  netns=prot.netns, pidns=prot.pidns, no_sockets=prot.no_sockets)


def _prepare(folder: Path, config: SandboxConfig, uid: int | None) -> None:
    for sub in ("work", "drivers", "tmp"):
        (folder / sub).mkdir(mode=0o700)
    for root, files in ((folder / "work", config.files), (folder / "drivers", config.drivers)):
        for rel, src in files.items():
            dest = root / rel
            dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            shutil.copyfile(src, dest)
    if uid is not None:
        for dirpath, dirnames, filenames in os.walk(folder):
            os.chown(dirpath, uid, uid)
            for name in filenames:
                os.chown(os.path.join(dirpath, name), uid, uid)


def _spawn(jail: Jail | None, kind: str, file: str, qualname: str, args: tuple, kwargs: dict,
           timeout: float, config: SandboxConfig, netns: bool = False, pidns: bool = False,
           no_sockets: bool = False):
    lease = UidLease() if jail is not None else None
    uid = lease.uid if lease else None
    if jail is not None:
        folder, inner = jail.new_call_folder(uid)
    else:
        folder = Path(tempfile.mkdtemp(prefix="edu-nn-call-"))
        inner = str(folder)
    channels = [tempfile.TemporaryFile() for _ in range(5)]   # unlinked: no path to attack
    cfg_f, in_f, res_f, status_f, out_f = channels
    start = time.perf_counter()
    try:
        _prepare(folder, config, uid)
        encode_call(in_f, args, kwargs)
        in_f.seek(0)
        cfg = {"kind": kind, "file": file, "qualname": qualname,
               "driver": kind == "import" and file in config.drivers,
               "work": f"{inner}/work", "drivers": f"{inner}/drivers",
               "path": ["/site"] if jail is not None else [_numpy_parent()],
               "inputs_fd": in_f.fileno(), "result_fd": res_f.fileno(),
               "status_fd": status_f.fileno(),
               "blocked": sorted(set(BLOCKED) | set(config.block_imports)),
               # a driver that imports a file whose import hangs fails at once, saying why
               "hung": {f[:-3].replace("/", "."): why for f, why in config.hung.items()
                        if f in config.files},
               "netns": netns, "pidns": pidns, "no_sockets": no_sockets, "uid": uid, "probe": kind == "probe",
               "limits": {"memory_bytes": int(config.memory_mb) * 2 ** 20,
                          "cpu_s": int(math.ceil(timeout)) + 1, "file_bytes": MAX_FILE_BYTES,
                          "nofile": MAX_OPEN_FILES,
                          "nproc": NPROC if uid is not None else 1}}
        if kind == "probe":
            cfg["limits"]["memory_bytes"] = 1024 * 2 ** 20
            cfg["look_for"] = ["/proc/1", "/tmp", "/dev/shm", str(CHILD_SOURCE)]
        cfg_f.write(json.dumps(cfg).encode())
        cfg_f.seek(0)
        env = dict(ENV, TMPDIR=f"{inner}/tmp", HOME=f"{inner}/tmp")
        env.update({k: os.environ[k] for k in PASS_THROUGH if k in os.environ})
        if jail is not None:
            cmd = [_CHROOT, str(jail.root), jail.python, "-I", "-S", "-B", "/edu_nn_child.py",
                   str(cfg_f.fileno())]
        else:
            cmd = [sys.executable, "-I", "-B", str(CHILD_SOURCE), str(cfg_f.fileno())]
        proc = subprocess.Popen(cmd, cwd=folder / "work", env=env, stdin=subprocess.DEVNULL,
                                stdout=out_f, stderr=subprocess.STDOUT, start_new_session=True,
                                pass_fds=[f.fileno() for f in channels[:4]])
        code, timed_out, peak_mb = _wait(proc, timeout + STARTUP_S)
        # the uid is freed only when nothing of it is left: no process, no IPC object, no file
        clean = lease.clean_up() if lease is not None else True
        shutil.rmtree(folder, ignore_errors=True)
        if lease is not None:
            lease.unlock(clean)
            lease = None
        seconds = time.perf_counter() - start
        status = _read_status(status_f)
        if kind == "probe":
            return status
        output = _read_head(out_f)
        if not status.get("ready"):
            return CallResult(False, error="the grader could not start this call (not your "
                              "fault; the course staff are told)", output="",
                              seconds=seconds, staff=f"sandbox set-up failed: "
                              f"{status.get('failed') or 'no status'} (exit {code}); "
                              f"{output[-500:]}")
        result = _outcome(code, timed_out, res_f, output, seconds, timeout, config.memory_mb,
                          peak_mb)
        if not clean:
            result.staff = (result.staff + " " if result.staff else "") + \
                f"a process of uid {uid} survived clean-up; that uid is not reused"
        return result
    finally:
        for f in channels:
            f.close()
        if lease is not None:          # an error of the grader's own: clean up all the same
            clean = lease.clean_up()
            shutil.rmtree(folder, ignore_errors=True)
            lease.unlock(clean)
        shutil.rmtree(folder, ignore_errors=True)


def _numpy_parent() -> str:
    import numpy
    return os.path.dirname(os.path.dirname(os.path.realpath(numpy.__file__)))


def _wait(proc: subprocess.Popen, limit: float) -> tuple[int, bool, float]:
    """Wait for ``proc`` at most ``limit`` seconds, then kill its session. Returns the exit
    code (negative: a signal), whether it timed out, and its peak memory in MB."""
    deadline, pause = time.monotonic() + limit, 0.001
    timed_out, status, usage = False, None, None
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() >= deadline:
            timed_out = True
            break
        time.sleep(pause)
        pause = min(pause * 2, 0.02)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    if timed_out:
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, timed_out, usage.ru_maxrss / 1024


def _read_status(f) -> dict:
    f.seek(0)
    try:
        status = json.loads(f.read(1 << 16).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return {}
    return status if isinstance(status, dict) else {}


def _read_head(f, limit: int = MAX_OUTPUT_CHARS) -> str:
    f.seek(0)
    data = f.read(limit + 1)
    text = data[:limit].decode("utf-8", errors="replace")
    return text + ("\n... (output truncated)" if len(data) > limit else "")


def _outcome(code: int, timed_out: bool, result_f, output: str, seconds: float,
             timeout: float, memory_mb: int, peak_mb: float) -> CallResult:
    def fail(why: str) -> CallResult:
        return CallResult(False, error=why, output=output, seconds=seconds, timed_out=timed_out)

    if timed_out:
        return fail(f"took longer than {timeout:g} s and was stopped: an infinite loop, or "
                    f"far too much work?")
    if code == -signal.SIGXCPU or code == -signal.SIGKILL and seconds >= timeout:
        result = fail(f"used more than {timeout:g} s of CPU time and was stopped: an infinite "
                      f"loop?")
        result.timed_out = True
        return result
    if code == -signal.SIGXFSZ:
        return fail(f"wrote a file larger than {MAX_FILE_BYTES // 2 ** 20} MB and was stopped")
    if code == -signal.SIGKILL:
        machine = _memory_limit_mb()
        limit = min(memory_mb, machine) if machine else memory_mb
        where = (f"this machine allows {machine:.0f} MB in all" if machine and machine < memory_mb
                 else f"the assignment allows {memory_mb} MB")
        return fail(f"was killed (SIGKILL) after using {peak_mb:.0f} MB: probably out of memory "
                    f"({where}; stay well under {limit:.0f} MB)")
    if code < 0:
        return fail(f"was killed by {signal_name(-code)}")
    try:
        data = decode_result(result_f)
    except WireError as exc:
        if str(exc) == "no result":
            return fail(f"ended (exit status {code}) without returning a value: does your code "
                        f"call sys.exit() or os._exit(), or crash the interpreter?")
        return fail(f"sent back something the grader cannot read: {exc}")
    if code != 0:
        return fail(f"ended with exit status {code} after writing a result")
    if data["ok"]:
        return CallResult(True, value=data["value"], output=output, seconds=seconds)
    err = data["error"]
    if err["type"] == "ReturnValue":
        return fail(err["message"])
    text = f"{err['type']}: {err['message']}" if err["message"] else err["type"]
    if err["traceback"]:
        text += "\nTraceback (your code):\n" + "\n".join(err["traceback"])
    result = fail(text)
    result.raised = True
    return result
