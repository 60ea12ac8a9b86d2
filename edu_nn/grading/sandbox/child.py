"""The child side of one graded call: ``python -I -S -B child.py CFG_FD`` (a script, not a module).

Trusted code that runs before any student code, so it is where the protections go on. The
parent started it with ``chroot JAIL`` (see ``jail.py``), as root, in a new session; it
inherited four descriptors the parent opened: the config (JSON), the arguments (``.npz``), the
result file and the status file. In this order it:

1. (when asked) enters a new network namespace (no network at all) and a new IPC namespace;
2. (when asked) enters a new PID namespace and forks: the fork, PID 1 there, runs the call,
   and when it ends the kernel kills every process left in the namespace; this process only
   waits and hands its exit status on;
3. sets resource limits: address space, CPU seconds, file size, processes, open files, no
   core files;
4. drops to the call's own uid and gid (no supplementary groups) and checks it cannot get
   root back;
5. writes "ready" with what is on to the status file and closes it: from here on everything
   is the student's, so the parent believes nothing else this process says about itself;
6. imports numpy from ``/site``, reads the arguments, imports the submission's module (or a
   trusted driver), calls the function, writes the returned value as plain data (or the
   exception) to the result descriptor, and leaves with ``os._exit`` (no atexit handlers).

It imports only the standard library and numpy: edu_nn is not in the jail.
"""
import ctypes
import importlib
import importlib.abc
import importlib.util
import json
import os
import resource
import sys
import traceback

CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = 0x08000000, 0x20000000, 0x40000000
MAX_DEPTH, MAX_NODES, MAX_STR = 16, 10_000, 10_000
BLOCKED = ("torch", "jax", "jaxlib", "functorch", "tensorflow")


class _Blocker(importlib.abc.MetaPathFinder):
    """Explains a refusal (the protection is that the jail holds no such package): torch and
    jax (gradients may not be borrowed), and the assignment's ``block_imports``."""

    def __init__(self, blocked, hung=None):
        self.blocked = frozenset(blocked)
        self.hung = dict(hung or {})    # module -> why its import never finished (the probe)

    def find_spec(self, name, path=None, target=None):
        if name in self.hung:
            raise ImportError(self.hung[name], name=name)
        top = name.partition(".")[0]
        if top in BLOCKED:
            raise ImportError(f"{top} is not available while grading: write the computation "
                              f"with numpy (the grader compares it with references it computes "
                              f"itself)", name=name)
        if top in self.blocked:
            raise ImportError(f"{top} is not available while grading this assignment (its "
                              f"assignment.toml blocks it): use numpy", name=name)
        return None


def _unshare(flags: int):
    if hasattr(os, "unshare"):       # Python >= 3.12
        try:
            os.unshare(flags)
            return None
        except OSError as exc:
            return str(exc)
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    if libc.unshare(flags) != 0:
        return os.strerror(ctypes.get_errno())
    return None


#: seccomp: (audit arch, socket, io_uring_setup) syscall numbers of the architectures we know
_ARCHES = {"x86_64": (0xC000003E, 41, 425), "aarch64": (0xC00000B7, 198, 425)}


def _no_sockets():
    """Refuse ``socket()`` (and io_uring, which can open sockets) with EACCES from here on, by
    a seccomp filter: no network and no Unix socket even where there is no network namespace
    (Gradescope). Needs no privilege (no_new_privs is set first). Returns an error or None."""
    import platform
    arch = _ARCHES.get(platform.machine())
    if arch is None:
        return f"no seccomp filter for {platform.machine()}"
    audit, nr_socket, nr_uring = arch

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                    ("k", ctypes.c_uint)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

    ld, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    allow, deny = 0x7FFF0000, 0x00050000 | 13          # SECCOMP_RET_ERRNO | EACCES
    kill = 0x80000000                                   # another architecture's syscall ABI
    code = [(ld, 0, 0, 4), (jeq, 1, 0, audit), (ret, 0, 0, kill),
            (ld, 0, 0, 0), (jge, 3, 0, 0x40000000),     # x32 syscalls: refused
            (jeq, 2, 0, nr_socket), (jeq, 1, 0, nr_uring),
            (ret, 0, 0, allow), (ret, 0, 0, deny)]
    filters = (Filter * len(code))(*[Filter(*c) for c in code])
    program = Program(len(code), filters)
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    if libc.prctl(38, 1, 0, 0, 0) != 0:                  # PR_SET_NO_NEW_PRIVS
        return f"no_new_privs: {os.strerror(ctypes.get_errno())}"
    if libc.prctl(22, 2, ctypes.byref(program), 0, 0) != 0:   # PR_SET_SECCOMP, FILTER
        return f"seccomp: {os.strerror(ctypes.get_errno())}"
    return None


def _wait_and_pass_on(pid: int) -> None:
    """The supervisor outside the PID namespace: wait for PID 1 there, exit the same way."""
    for fd in range(3, 64):
        try:
            os.close(fd)
        except OSError:
            pass
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        import signal
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 70)


def _protect(cfg: dict) -> dict:
    """Put on what the parent asked for; returns {"state": ..., "failed": ...}."""
    state, failed = {}, {}
    if cfg.get("netns"):
        err = _unshare(CLONE_NEWNET | CLONE_NEWIPC)
        state["netns"] = err is None
        if err:
            failed["netns"] = err
    if cfg.get("pidns"):
        err = _unshare(CLONE_NEWPID)
        state["pidns"] = err is None
        if err:
            failed["pidns"] = err
        else:
            pid = os.fork()
            if pid:
                _wait_and_pass_on(pid)
    limits = cfg.get("limits", {})
    for name, value in (("AS", limits.get("memory_bytes")), ("CPU", limits.get("cpu_s")),
                        ("FSIZE", limits.get("file_bytes")), ("NPROC", limits.get("nproc")),
                        ("NOFILE", limits.get("nofile")), ("CORE", 0)):
        if value is None:
            continue
        which = getattr(resource, f"RLIMIT_{name}")
        hard = value + 1 if name == "CPU" else value   # SIGXCPU first, then SIGKILL
        try:
            resource.setrlimit(which, (value, hard))
        except (ValueError, OSError) as exc:
            failed[f"rlimit_{name.lower()}"] = str(exc)
    if cfg.get("no_sockets"):
        err = _no_sockets()
        state["no_sockets"] = err is None
        if err:
            failed["no_sockets"] = err
    if cfg.get("uid") is not None:
        try:
            os.setgroups([])
            os.setresgid(cfg["uid"], cfg["uid"], cfg["uid"])
            os.setresuid(cfg["uid"], cfg["uid"], cfg["uid"])
            state["uid"] = os.getresuid() == (cfg["uid"],) * 3 and os.getgroups() == []
            try:
                os.setuid(0)
                state["uid"], failed["uid"] = False, "could get root back"
            except PermissionError:
                pass
        except OSError as exc:
            state["uid"], failed["uid"] = False, str(exc)
    return {"state": state, "failed": failed}


# ----------------------------------------------------------------- plain data
def _encode(value, arrays: dict, np, depth: int = 0, count=None):
    """The returned value as a JSON-able tree; arrays go to ``arrays`` (saved to .npz)."""
    count = count if count is not None else [0]
    count[0] += 1
    if depth > MAX_DEPTH or count[0] > MAX_NODES:
        raise TypeError(f"the returned value is nested deeper than {MAX_DEPTH} levels or has "
                        f"more than {MAX_NODES} parts")
    t = type(value)
    if t is np.ndarray:
        if value.dtype.kind not in "biufc" or value.dtype.fields is not None:
            raise TypeError(f"returned an array of dtype {value.dtype}, expected numbers "
                            f"(float64, int, bool)")
        key = f"a{len(arrays)}"
        arrays[key] = np.array(value, order="C")  # keeps 0-d (ascontiguousarray makes it 1-d)
        return {"t": "a", "k": key}
    if t is bool:
        return {"t": "b", "v": value}
    if t is int:
        if abs(value) > 2 ** 63:
            raise TypeError("returned an int too large to send back")
        return {"t": "i", "v": value}
    if t is float:
        return {"t": "f", "v": value}
    if value is None:
        return {"t": "n"}
    if t is str:
        return {"t": "s", "v": value[:MAX_STR]}
    if isinstance(value, np.generic) and np.dtype(t).type is t and value.dtype.kind in "biuf":
        return _encode(value.item(), arrays, np, depth, count)   # np.float64 is a number
    if t in (list, tuple):
        return {"t": "l" if t is list else "t",
                "v": [_encode(v, arrays, np, depth + 1, count) for v in value]}
    if t is dict:
        if not all(type(k) is str for k in value):
            raise TypeError("returned a dict whose keys are not all str")
        return {"t": "d", "v": [[k, _encode(v, arrays, np, depth + 1, count)]
                                for k, v in value.items()]}
    raise TypeError(f"returned {_type_name(value)}, expected a numpy.ndarray, a number, "
                    f"bool, None, str, or a tuple/list/dict of these")


def _type_name(value) -> str:
    t = type(value)
    try:
        module = t.__module__
        return f"{module}.{t.__qualname__}" if module not in ("builtins", None) else \
            t.__qualname__
    except Exception:  # a hostile class
        return "an object of an unknown type"


def _decode(tree, npz):
    kind = tree["t"]
    if kind == "a":
        return npz[tree["k"]]
    if kind in ("b", "i", "f", "s"):
        return tree["v"]
    if kind == "n":
        return None
    if kind == "l":
        return [_decode(v, npz) for v in tree["v"]]
    if kind == "t":
        return tuple(_decode(v, npz) for v in tree["v"])
    if kind == "d":
        return {k: _decode(v, npz) for k, v in tree["v"]}
    raise ValueError(f"unknown kind {kind!r}")


def _student_traceback(exc: BaseException, roots: list) -> list:
    """The traceback lines that point into the student's files (never the grader's)."""
    lines = []
    try:
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename.startswith("<"):      # <frozen importlib._bootstrap>
                continue
            path = os.path.abspath(frame.filename)
            if any(path.startswith(r + os.sep) for r in roots):
                rel = os.path.relpath(path, roots[0])
                lines.append(f'  File "{rel}", line {frame.lineno}, in {frame.name}')
                if frame.line:
                    lines.append(f"    {frame.line.strip()}")
    except Exception:
        pass
    return lines[-20:]


def _describe(exc: BaseException):
    try:
        name = type(exc).__qualname__
    except Exception:
        name = "Exception"
    try:
        message = str(exc)[:2000]
    except Exception:
        message = "(its message could not be shown)"
    return name, message


def _write(fd: int, meta: dict, arrays: dict, np) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    with open(fd, "wb", closefd=False) as f:
        np.savez(f, __meta__=np.array(json.dumps(meta)), **arrays)


def _run(cfg: dict, np) -> tuple:
    work, drivers = cfg["work"], cfg["drivers"]
    with open(cfg["inputs_fd"], "rb") as f:
        with np.load(f, allow_pickle=False) as npz:
            args, kwargs = _decode(json.loads(str(npz["__meta__"])), npz)
    if cfg["kind"] == "call" or cfg["kind"] == "import" and not cfg.get("driver"):
        target = importlib.import_module(cfg["file"][:-3].replace("/", "."))
    else:
        path = os.path.join(drivers, cfg["file"])
        spec = importlib.util.spec_from_file_location(
            "_edu_nn_driver_" + os.path.basename(cfg["file"])[:-3], path)
        target = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(target)
    if cfg["kind"] == "import":
        return {"ok": True, "value": {"t": "n"}}, {}
    for part in cfg["qualname"].split("."):
        target = getattr(target, part)
    value = target(*args, **kwargs)
    arrays = {}
    try:
        return {"ok": True, "value": _encode(value, arrays, np)}, arrays
    except TypeError as exc:     # not plain data: say what came back
        return {"ok": False, "error": {"type": "ReturnValue", "message": str(exc),
                                       "traceback": []}}, {}


def main(cfg_fd: int) -> None:
    with open(cfg_fd) as f:
        cfg = json.load(f)
    report = _protect(cfg)
    if cfg.get("probe"):
        sys.path[:] = sys.path + cfg["path"]
        try:
            import numpy  # noqa: F401
            report["numpy"] = "ok"
        except BaseException as exc:  # noqa: BLE001 - the probe reports anything
            report["numpy"] = f"{type(exc).__name__}: {exc}"
        report["sees"] = {p: os.path.exists(p) for p in cfg.get("look_for", [])}
    status = {"ready": not report["failed"], **report}
    os.write(cfg["status_fd"], json.dumps(status).encode())
    os.close(cfg["status_fd"])
    if report["failed"] or cfg.get("probe"):
        os._exit(0)

    sys.meta_path.insert(0, _Blocker(cfg.get("blocked", ()), cfg.get("hung")))
    sys.path[:] = [p for p in sys.path if p not in ("", ".")] + cfg["path"] + \
        [cfg["work"], cfg["drivers"]]
    sys.dont_write_bytecode = True
    os.chdir(cfg["work"])
    import numpy as np

    result_fd = cfg["result_fd"]
    try:
        meta, arrays = _run(cfg, np)
    except BaseException as exc:  # noqa: BLE001 - student code may raise anything, even exit
        name, message = _describe(exc)
        if isinstance(exc, SystemExit):
            message = f"your code called sys.exit({message}) (or raised SystemExit)"
        meta, arrays = {"ok": False, "error": {"type": name, "message": message,
                                               "traceback": _student_traceback(
                                                   exc, [cfg["work"]])}}, {}
    try:
        _write(result_fd, meta, arrays, np)
    except BaseException as exc:  # noqa: BLE001
        name, message = _describe(exc)
        _write(result_fd, {"ok": False, "error": {"type": name, "message": message,
                                                  "traceback": []}}, {}, np)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(0)   # skip the student's atexit handlers and finalizers


if __name__ == "__main__":
    main(int(sys.argv[1]))
