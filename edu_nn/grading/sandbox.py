"""Run one graded call of untrusted code in a fresh, limited child process.

The parent (the grader) never imports student code. For each ``sub.call``/``sub.run`` it

- makes a private folder holding only copies of the manifest's submission files (and the
  assignment's trusted drivers), plus the call's arguments as ``inputs.npz``;
- starts ``python -I edu_nn/grading/_child.py`` there with an empty environment, in a new
  session (so the whole process group can be killed); the child puts on the protections
  (see :mod:`edu_nn.grading._child`) before it imports anything of the student's;
- waits at most the wall-time limit, then kills the process group (and, where the child ran
  under its own uid, every process left with that uid);
- reads back only ``result.npz`` (``allow_pickle=False``, size-checked, structure checked
  strictly) and the first kilobytes of what the child printed.

Which protections are available is found once per process by :func:`protections` (a probe
child, no student code): the unprivileged uid, the network and mount namespaces need root;
elsewhere (a student's laptop) they are off, and the grader says so.
"""
from __future__ import annotations

import fcntl
import importlib.util
import itertools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["CallResult", "SandboxConfig", "Protections", "protections", "run_call",
           "encode_value", "decode_result", "WireError"]

CHILD = Path(__file__).with_name("_child.py")
EXIT_PROTECTION_FAILED = 71
#: Libraries the child may never import; their folders are also covered where possible.
BLOCKED = ("torch", "jax", "jaxlib", "functorch", "tensorflow")
MAX_RESULT_BYTES = 512 * 2 ** 20        # the .npz a child may send back
MAX_META_BYTES = 2 * 2 ** 20
MAX_FILE_BYTES = 64 * 2 ** 20           # RLIMIT_FSIZE: any one file the child writes
MAX_OUTPUT_CHARS = 4000                 # printed output kept per call
MAX_DEPTH, MAX_NODES = 16, 10_000
STARTUP_S = 2.0                          # wall time allowed on top of the timeout for start-up
#: Unprivileged uids for graded calls: one per call, so that limits and clean-up of one call
#: never touch another (nothing on a normal system uses this range).
UID_RANGE = (61000, 64999)
_uids = itertools.count()

ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "NUMEXPR_NUM_THREADS": "1", "LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
       "PYTHONHASHSEED": "0"}


class WireError(ValueError):
    """What came back from the child is not well-formed plain data."""


@dataclass
class SandboxConfig:
    """What every graded call of one submission shares."""
    files: dict[str, Path]              # manifest name -> the submitted file (parent's path)
    drivers: dict[str, Path]            # driver name -> trusted file (parent's path)
    memory_mb: int = 1024
    hide: list[Path] = field(default_factory=list)   # folders the child must not see
    block_imports: list[str] = field(default_factory=list)  # on top of BLOCKED (manifest's)
    sandbox: bool = True                # False: no limits/namespaces (for debugging only)


@dataclass
class CallResult:
    ok: bool                            # the call returned a value (already decoded)
    value: object = None
    error: str = ""                     # why not, written for the student
    output: str = ""                    # what the child printed (truncated)
    seconds: float = 0.0
    raised: bool = False                # error is an exception of the student's code


@dataclass
class Protections:
    """Which isolation protections graded calls get here, and why any is off."""
    root: bool
    uid: bool = False
    netns: bool = False
    hide: bool = False
    limits: bool = True
    nproc: bool = False
    notes: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict:
        on = {"resource limits (memory, CPU, file size, core)": self.limits,
              "process limit (no fork bombs)": self.nproc,
              "unprivileged user": self.uid,
              "no network (own network namespace)": self.netns,
              "assignment and torch/jax folders hidden (own mount namespace)": self.hide,
              "empty environment": True, "torch/jax imports refused": True,
              "fresh process per call with a wall-time limit": True}
        return {"on": [k for k, v in on.items() if v],
                "off": {k: self.notes.get(k, "unavailable") for k, v in on.items() if not v}}

    def off_message(self) -> str:
        off = self.summary()["off"]
        if not off:
            return ""
        return "sandbox protections off here: " + "; ".join(f"{k} ({why})"
                                                            for k, why in off.items())


_PROTECTIONS: Protections | None = None


def _blocked_dirs(names=BLOCKED) -> list[str]:
    """Install folders of torch, jax, ... (found without importing them)."""
    dirs = []
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is not None:
            dirs += [str(Path(p).resolve()) for p in (spec.submodule_search_locations or [])]
    return dirs


def _probe(cfg: dict) -> dict | None:
    with tempfile.TemporaryDirectory(prefix="edu-nn-probe-") as tmp:
        os.chmod(tmp, 0o711)
        result = os.path.join(tmp, "probe.json")
        os.mkdir(os.path.join(tmp, "covered"))    # so that the mount namespace is probed
        cfg = dict(cfg, probe=True, result=result, staging=tmp, expose=_needed_paths(),
                   hide=[*cfg["hide"], os.path.join(tmp, "covered")])
        if cfg.get("uid") is not None:
            out = os.path.join(tmp, "out")
            os.mkdir(out)
            os.chown(out, cfg["uid"], cfg["gid"])
            cfg["result"] = result = os.path.join(out, "probe.json")
        with open(os.path.join(tmp, "cfg.json"), "w") as f:
            json.dump(cfg, f)
        os.chmod(os.path.join(tmp, "cfg.json"), 0o644)
        try:
            subprocess.run([sys.executable, "-I", str(CHILD), os.path.join(tmp, "cfg.json")],
                           env=ENV, cwd=tmp, timeout=60, capture_output=True)
            with open(result) as f:
                return json.load(f)
        except (OSError, subprocess.SubprocessError, ValueError):
            return None


def _needed_paths() -> list[str]:
    """What the child must be able to read: the interpreter, its library, numpy, edu_nn."""
    paths = {os.path.realpath(sys.executable), os.path.realpath(sys.base_prefix),
             os.path.realpath(sys.prefix), os.path.dirname(os.path.realpath(np.__file__)),
             str(Path(__file__).resolve().parents[1])}
    return sorted(paths)


def protections() -> Protections:
    """Find (once per process) which protections graded calls get on this machine."""
    global _PROTECTIONS
    if _PROTECTIONS is not None:
        return _PROTECTIONS
    root = os.geteuid() == 0
    p = Protections(root=root)
    if not root:
        why = "needs the grader to run as root, as on Gradescope and in CI containers"
        for key in ("unprivileged user", "no network (own network namespace)",
                    "assignment and torch/jax folders hidden (own mount namespace)"):
            p.notes[key] = why
        p.nproc = True   # a limit of 1 process for this user: forks fail
        _PROTECTIONS = p
        return p
    uid = _next_uid()
    limits = {"memory_bytes": 1024 * 2 ** 20}
    full = _probe({"netns": True, "hide": _blocked_dirs(), "uid": uid, "gid": uid,
                   "limits": limits})
    ok = lambda r: r is not None and all(v == "ok" for v in r.get("imports", {}).values())  # noqa
    if ok(full) and full["state"].get("uid"):
        p.uid = p.nproc = True
        if full.get("version") != sys.version:
            p.notes["child python"] = (f"as an unprivileged user the interpreter runs with "
                                       f"another standard library: {full.get('version')!r}")
    else:
        why = ("the unprivileged user cannot import numpy and edu_nn from this Python "
               f"installation ({sys.prefix}): make it world-readable (chmod -R a+rX), as "
               f"the setup.sh of edu-nn assign does")
        if full is not None and full["failed"].get("uid"):
            why = f"setuid failed: {full['failed']['uid']}"
        p.notes["unprivileged user"] = why
        p.notes["process limit (no fork bombs)"] = "root ignores process limits"
        full = _probe({"netns": True, "hide": _blocked_dirs(), "uid": None, "limits": limits})
    state, failed = (full or {}).get("state", {}), (full or {}).get("failed", {})
    p.netns, p.hide = bool(state.get("netns")), bool(state.get("hide"))
    if not p.netns:
        p.notes["no network (own network namespace)"] = failed.get("netns", "probe failed")
    if not p.hide:
        p.notes["assignment and torch/jax folders hidden (own mount namespace)"] = \
            failed.get("hide", "probe failed")
    _PROTECTIONS = p
    return p


def _next_uid() -> int:
    """An unused uid for the probe (nothing runs under it afterwards)."""
    lo, hi = UID_RANGE
    return lo + (os.getpid() * 7919 + next(_uids)) % (hi - lo + 1)


class _UidLease:
    """A uid from UID_RANGE that no other graded call holds (an flock per uid, so parallel
    graders never share one: a call's clean-up kills every process of its uid)."""

    def __init__(self) -> None:
        folder = Path(tempfile.gettempdir()) / "edu-nn-uids"
        folder.mkdir(mode=0o700, exist_ok=True)
        lo, hi = UID_RANGE
        first = _next_uid()
        for k in range(hi - lo + 1):
            uid = lo + (first - lo + k) % (hi - lo + 1)
            fd = os.open(folder / str(uid), os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self.uid, self._fd = uid, fd
            return
        raise RuntimeError("no free uid for a graded call")

    def release(self) -> None:
        os.close(self._fd)     # closing drops the lock


# ------------------------------------------------------------------ plain data
def encode_value(value, arrays: dict) -> dict:
    """Arguments (parent side) as the tree the child decodes; arrays into ``arrays``."""
    if isinstance(value, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = np.array(value, copy=True)
        return {"t": "a", "k": key}
    if isinstance(value, (bool, np.bool_)):
        return {"t": "b", "v": bool(value)}
    if isinstance(value, (int, np.integer)):
        return {"t": "i", "v": int(value)}
    if isinstance(value, (float, np.floating)):
        return {"t": "f", "v": float(value)}
    if value is None:
        return {"t": "n"}
    if isinstance(value, str):
        return {"t": "s", "v": value}
    if isinstance(value, (list, tuple)):
        return {"t": "l" if isinstance(value, list) else "t",
                "v": [encode_value(v, arrays) for v in value]}
    if isinstance(value, dict):
        return {"t": "d", "v": [[str(k), encode_value(v, arrays)] for k, v in value.items()]}
    raise TypeError(f"sub.call/sub.run: cannot send {type(value).__name__} to the student's "
                    f"code; use numpy arrays, numbers, bool, None, str and lists/tuples/dicts")


def decode_result(path: Path) -> dict:
    """Read the child's ``result.npz``: ``{"ok": True, "value": ...}`` or ``{"ok": False,
    "error": {...}}``. Everything is checked; anything unexpected raises :class:`WireError`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise WireError("no result") from None
    except OSError as exc:
        raise WireError(f"the result file cannot be opened ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not (st.st_mode & 0o170000 == 0o100000) or st.st_size > MAX_RESULT_BYTES:
            raise WireError("the result is not a regular file of a sane size")
        try:
            with zipfile.ZipFile(f) as z:
                infos = z.infolist()
                if sum(i.file_size for i in infos) > MAX_RESULT_BYTES or len(infos) > MAX_NODES:
                    raise WireError("the result is too large")
            f.seek(0)
            with np.load(f, allow_pickle=False) as npz:
                names = set(npz.files)
                if "__meta__" not in names:
                    raise WireError("the result has no description")
                meta_array = npz["__meta__"]
                if meta_array.dtype.kind != "U" or meta_array.shape != () or \
                        meta_array.nbytes > 4 * MAX_META_BYTES:
                    raise WireError("the result's description is malformed")
                meta = json.loads(str(meta_array))
                used: set[str] = set()
                if not isinstance(meta, dict) or type(meta.get("ok")) is not bool:
                    raise WireError("the result's description is malformed")
                if meta["ok"]:
                    value = _decode_tree(meta.get("value"), npz, names, used, [0], 0)
                    return {"ok": True, "value": value}
                err = meta.get("error")
                if not isinstance(err, dict):
                    raise WireError("the error description is malformed")
                tb = err.get("traceback", [])
                return {"ok": False, "error": {
                    "type": str(err.get("type", "Exception"))[:200],
                    "message": str(err.get("message", ""))[:2000],
                    "traceback": [str(x)[:300] for x in tb[:20]] if isinstance(tb, list)
                    else []}}
        except WireError:
            raise
        except RecursionError:
            raise WireError("the result is nested too deeply") from None
        except Exception as exc:  # noqa: BLE001 - any malformed file is the child's fault
            raise WireError(f"the result is malformed ({type(exc).__name__})") from None


def _decode_tree(tree, npz, names: set, used: set, count: list, depth: int):
    count[0] += 1
    if depth > MAX_DEPTH or count[0] > MAX_NODES:
        raise WireError("the returned value is nested too deeply or has too many parts")
    if not isinstance(tree, dict) or not isinstance(tree.get("t"), str):
        raise WireError("the returned value is malformed")
    kind, v = tree["t"], tree.get("v")
    if kind == "a":
        key = tree.get("k")
        if not isinstance(key, str) or key not in names or key == "__meta__" or key in used:
            raise WireError("the returned value names a missing array")
        used.add(key)
        array = npz[key]
        if type(array) is not np.ndarray or array.dtype.kind not in "biufc" or \
                array.dtype.fields is not None:
            raise WireError(f"returned an array of dtype {array.dtype}, expected numbers")
        return array
    if kind == "b" and type(v) is bool:
        return v
    if kind == "i" and type(v) is int:
        return v
    if kind == "f" and type(v) in (float, int):
        return float(v)
    if kind == "n":
        return None
    if kind == "s" and type(v) is str:
        return v[:10_000]
    if kind in ("l", "t") and type(v) is list:
        items = [_decode_tree(x, npz, names, used, count, depth + 1) for x in v]
        return items if kind == "l" else tuple(items)
    if kind == "d" and type(v) is list:
        out = {}
        for pair in v:
            if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str:
                raise WireError("the returned dict is malformed")
            out[pair[0]] = _decode_tree(pair[1], npz, names, used, count, depth + 1)
        return out
    raise WireError("the returned value is malformed")


# ---------------------------------------------------------------------- a call
def _copy_into(target: Path, rel: str, source: Path, uid: int | None) -> None:
    dest = target / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
    if uid is not None:
        for p in [dest, *dest.relative_to(target).parents]:
            os.chown(target / p, uid, uid)


def _read_head(path: Path, limit: int = MAX_OUTPUT_CHARS) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError:
        return ""
    text = data[:limit].decode("utf-8", errors="replace")
    return text + ("\n... (output truncated)" if len(data) > limit else "")


def _kill_uid(uid: int) -> None:
    """SIGKILL every process whose real uid is ``uid`` (this call's own uid)."""
    for _ in range(3):
        found = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/status") as f:
                    uid_line = next(line for line in f if line.startswith("Uid:"))
                if int(uid_line.split()[1]) == uid:
                    os.kill(int(entry), signal.SIGKILL)
                    found = True
            except (OSError, StopIteration, ValueError):
                continue
        if not found:
            return
        time.sleep(0.05)


def run_call(config: SandboxConfig, kind: str, file: str, qualname: str, args: tuple,
             kwargs: dict, timeout: float) -> CallResult:
    """Run ``file``'s ``qualname(*args, **kwargs)`` in a fresh sandboxed child.

    Args:
        kind: "call" (``file`` is a submission file) or "run" (``file`` is a driver).
        timeout: wall-time limit in seconds (plus a little start-up time).

    Returns:
        A :class:`CallResult`; never raises for anything the student's code does.
    """
    prot = protections() if config.sandbox else Protections(root=os.geteuid() == 0,
                                                            limits=False)
    lease = _UidLease() if config.sandbox and prot.uid else None
    uid = lease.uid if lease else None
    base = Path(tempfile.mkdtemp(prefix="edu-nn-call-"))
    start = time.perf_counter()
    try:
        os.chmod(base, 0o711)
        work, drivers, io = base / "work", base / "drivers", base / "io"
        for d in (work, drivers, io):
            d.mkdir()
            if uid is not None:
                os.chown(d, uid, uid)
        for rel, src in config.files.items():
            _copy_into(work, rel, src, uid)
        for rel, src in config.drivers.items():
            _copy_into(drivers, rel, src, uid)
        arrays: dict = {}
        tree = {"t": "t", "v": [encode_value(tuple(args), arrays),
                                encode_value(dict(kwargs), arrays)]}
        np.savez(io / "inputs.npz", __meta__=np.array(json.dumps(tree)), **arrays)
        if uid is not None:
            os.chown(io / "inputs.npz", uid, uid)
        cfg = {"kind": kind, "file": file, "qualname": qualname, "work": str(work),
               "drivers": str(drivers), "inputs": str(io / "inputs.npz"),
               "result": str(io / "result.npz"), "limits": {},
               "blocked": sorted(set(BLOCKED) | set(config.block_imports))}
        if config.sandbox:
            cfg["limits"] = {"memory_bytes": int(config.memory_mb) * 2 ** 20,
                             "cpu_s": int(math.ceil(timeout)) + 1,
                             "file_bytes": MAX_FILE_BYTES,
                             "nproc": (8 if uid is not None else 1) if prot.nproc else None}
            cfg["netns"] = prot.netns
            if prot.hide:
                cfg["hide"] = _hide_list(config, base)
                cfg["expose"], cfg["staging"] = _needed_paths(), str(base)
            if uid is not None:
                cfg["uid"] = cfg["gid"] = uid
        (base / "cfg.json").write_text(json.dumps(cfg))
        os.chmod(base / "cfg.json", 0o600)   # read before the child drops its privileges
        with open(base / "stdout", "wb") as out:
            proc = subprocess.Popen([sys.executable, "-I", str(CHILD), str(base / "cfg.json")],
                                    cwd=work, env=ENV, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    close_fds=True)
            timed_out = False
            try:
                proc.wait(timeout=timeout + STARTUP_S)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                proc.wait()
                if uid is not None:
                    _kill_uid(uid)
        seconds = time.perf_counter() - start
        output = _read_head(base / "stdout")
        return _outcome(proc.returncode, timed_out, io / "result.npz", output, seconds,
                        timeout, config.memory_mb)
    finally:
        shutil.rmtree(base, ignore_errors=True)
        if lease is not None:
            lease.release()


def _hide_list(config: SandboxConfig, base: Path) -> list[str]:
    """Folders to cover in the child: never one that holds what the child needs."""
    needed = [base.resolve(), CHILD.resolve(), *(Path(p) for p in _needed_paths())]
    hide = [str(p) for p in _blocked_dirs()]
    # the assignment's blocked modules too, unless the child needs them (edu_nn holds the
    # child's own script: that one is only refused at import)
    for folder in [*_blocked_dirs(config.block_imports), *config.hide]:
        folder = Path(folder).resolve()
        if folder.is_dir() and not any(n == folder or folder in n.parents for n in needed):
            hide.append(str(folder))
    return hide


def _outcome(code: int, timed_out: bool, result: Path, output: str, seconds: float,
             timeout: float, memory_mb: int) -> CallResult:
    def fail(why: str) -> CallResult:
        return CallResult(False, error=why, output=output, seconds=seconds)

    if timed_out:
        return fail(f"took longer than {timeout:g} s and was stopped: an infinite loop, or "
                    f"far too much work?")
    if code == -signal.SIGXCPU or code == -signal.SIGKILL and seconds >= timeout:
        return fail(f"used more than {timeout:g} s of CPU time and was stopped: an infinite "
                    f"loop?")
    if code == -signal.SIGXFSZ:
        return fail(f"wrote a file larger than {MAX_FILE_BYTES // 2 ** 20} MB and was stopped")
    if code == EXIT_PROTECTION_FAILED:
        return fail("the grader could not set up its sandbox for this call (not your "
                    "fault): please tell the course staff. " + output[-500:])
    if code < 0:
        return fail(f"was killed by signal {signal.Signals(-code).name} (more than "
                    f"{memory_mb} MB of memory?)" if -code in signal.valid_signals()
                    else f"was killed (signal {-code})")
    try:
        data = decode_result(result)
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
