"""The child side of one sandboxed graded call (run as a script: ``python -I _child.py CONFIG``).

This file runs in a fresh interpreter started by :mod:`edu_nn.grading.sandbox`. It is trusted
code, and it runs *before* any student code, so it is where the protections are put on:

1. (as root) a new network namespace (no network) and a new mount namespace in which the
   assignment, the submission's original folder and torch/jax's install folders are covered
   by empty read-only tmpfs mounts;
2. resource limits: address space, CPU seconds, file size, processes, no core files;
3. (as root) drop to an unprivileged uid/gid chosen by the parent for this call;
4. an import hook that refuses torch and jax ("torch is not available while grading");
5. ``sys.path``: the submission folder and the drivers go *after* site-packages, so a
   ``numpy.py`` beside the student's files cannot shadow numpy.

Then it reads the arguments from ``inputs.npz`` (``allow_pickle=False``), imports the student's
module (or a trusted driver), calls the requested function and writes ``result.npz``: the
returned value as plain data (exact ``np.ndarray`` of a numeric dtype, Python numbers, bool,
None, str, tuple/list/dict of these) or the exception the student's code raised.

Everything in this process after step 5 is under the student's control (their code could
rewrite ``result.npz`` itself), so the parent treats ``result.npz`` as untrusted: it checks its
structure strictly and never believes anything in it but the returned value. This file
imports only the standard library and numpy (numpy after the limits are set).
"""
import ctypes
import ctypes.util
import importlib
import importlib.abc
import importlib.util
import json
import os
import resource
import sys
import traceback

CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = \
    1, 2, 4, 8, 4096, 8192, 16384, 1 << 18
EXIT_PROTECTION_FAILED = 71
MAX_DEPTH, MAX_NODES, MAX_STR = 16, 10_000, 10_000
BLOCKED = ("torch", "jax", "jaxlib", "functorch", "tensorflow")


class _Blocker(importlib.abc.MetaPathFinder):
    """Refuses torch and jax (hand-written gradients may not be borrowed from them), and the
    modules the assignment's ``block_imports`` adds (e.g. sklearn, which holds the labels of
    a training test's held-out digits)."""

    def __init__(self, blocked=BLOCKED):
        self.blocked = frozenset(blocked)

    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in BLOCKED:
            raise ImportError(f"{top} is not available while grading: write the computation "
                              f"with numpy (the grader compares it with references it computes "
                              f"itself)", name=name)
        if top in self.blocked:
            raise ImportError(f"{top} is not available while grading this assignment (its "
                              f"assignment.toml blocks it): use numpy", name=name)
        return None


def _libc():
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _unshare(flag: int) -> str | None:
    if hasattr(os, "unshare"):       # Python >= 3.12
        try:
            os.unshare(flag)
            return None
        except OSError as exc:
            return str(exc)
    if _libc().unshare(flag) != 0:
        return os.strerror(ctypes.get_errno())
    return None


def _mount(libc, source, target, fstype, flags, data=None) -> str | None:
    enc = lambda x: x.encode() if isinstance(x, str) else x  # noqa: E731
    if libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        return f"mount {target}: {os.strerror(ctypes.get_errno())}"
    return None


def _expose(libc, paths: list[str], staging: str) -> list[str]:
    """Make each path reachable by an unprivileged user in this mount namespace.

    An interpreter installed under a private folder (``/root/.pyenv``, mode 0700) cannot be
    read once the child drops to an unprivileged uid. For the first folder D on the way that
    others may not enter, move the subtree on the way (D/C) aside, cover D with an empty
    tmpfs that others may enter (which also hides the rest of D, e.g. root's home), and move
    D/C back into it.
    """
    problems = []
    for n, path in enumerate(paths):
        parts = os.path.abspath(path).split(os.sep)[1:]
        for i in range(len(parts) - 1):
            folder = os.sep + os.sep.join(parts[:i + 1])
            try:
                mode = os.stat(folder).st_mode
            except OSError:
                break
            if mode & 0o001:
                continue
            inner = os.path.join(folder, parts[i + 1])
            aside = os.path.join(staging, f"expose{n}")
            os.mkdir(aside)
            err = (_mount(libc, inner, aside, None, MS_BIND | MS_REC)
                   or _mount(libc, "tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV,
                             "size=16k,mode=0755"))
            if not err:
                os.mkdir(inner)
                err = _mount(libc, aside, inner, None, MS_MOVE)
            if err:
                problems.append(err)
            break
    return problems


def _hide(libc, paths: list[str]) -> list[str]:
    """Cover each folder with an empty read-only tmpfs (in our private mount namespace)."""
    problems = []
    for p in paths:
        if os.path.isdir(p):     # a folder that is gone from view needs no cover
            err = _mount(libc, "tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                         "size=4k,mode=0555")
            if err:
                problems.append(err)
    return problems


def _mount_namespace(cfg: dict) -> list[str]:
    err = _unshare(CLONE_NEWNS)
    if err:
        return [f"unshare: {err}"]
    libc = _libc()
    # first of all: nothing we mount may propagate back to the machine's own mounts
    err = _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
    if err:
        return [err]
    problems = _expose(libc, cfg.get("expose", []), cfg["staging"]) if cfg.get("uid") else []
    return problems + _hide(libc, cfg.get("hide", []))


def _protect(cfg: dict) -> dict:
    """Apply the protections the parent asked for; returns what is on and what failed."""
    state, failed = {}, {}
    if cfg.get("netns"):
        err = _unshare(CLONE_NEWNET)
        state["netns"] = err is None
        if err:
            failed["netns"] = err
    if cfg.get("hide"):
        problems = _mount_namespace(cfg)
        state["hide"] = not problems
        if problems:
            failed["hide"] = "; ".join(problems)
    limits = cfg["limits"]
    for name, value in (("AS", limits.get("memory_bytes")), ("CPU", limits.get("cpu_s")),
                        ("FSIZE", limits.get("file_bytes")), ("NPROC", limits.get("nproc")),
                        ("CORE", 0)):
        if value is None:
            continue
        which = getattr(resource, f"RLIMIT_{name}")
        hard = value + 1 if name == "CPU" else value   # SIGXCPU first, then SIGKILL
        try:
            resource.setrlimit(which, (value, hard))
        except (ValueError, OSError) as exc:
            failed[f"rlimit_{name.lower()}"] = str(exc)
    if cfg.get("uid") is not None:
        try:
            os.setgroups([])
            os.setgid(cfg["gid"])
            os.setuid(cfg["uid"])
            state["uid"] = os.getuid() == cfg["uid"] and os.geteuid() == cfg["uid"]
        except OSError as exc:
            state["uid"], failed["uid"] = False, str(exc)
    return {"state": state, "failed": failed}


# ----------------------------------------------------------------- plain data
def _encode(value, arrays: dict, np, depth: int = 0, count: list | None = None):
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
        item = value.item()     # a numpy scalar (np.float64 ...) counts as a Python number
        return _encode(item, arrays, np, depth, count)
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


def _student_traceback(exc: BaseException, roots: list[str]) -> list[str]:
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


def _describe(exc: BaseException) -> tuple[str, str]:
    try:
        name = type(exc).__qualname__
    except Exception:
        name = "Exception"
    try:
        message = str(exc)[:2000]
    except Exception:
        message = "(its message could not be shown)"
    return name, message


def _write(path: str, meta: dict, arrays: dict, np) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"    # a forked copy of this process writes its own
    with open(tmp, "wb") as f:
        np.savez(f, __meta__=np.array(json.dumps(meta)), **arrays)
    os.replace(tmp, path)


def main(config_path: str) -> None:
    with open(config_path) as f:
        cfg = json.load(f)
    report = _protect(cfg)
    if cfg.get("probe"):
        report["imports"] = {}
        for name in ("numpy", "edu_nn"):
            try:
                importlib.import_module(name)
                report["imports"][name] = "ok"
            except BaseException as exc:  # noqa: BLE001 - the probe reports anything
                report["imports"][name] = f"{type(exc).__name__}: {exc}"
        report["version"] = sys.version
        with open(cfg["result"], "w") as f:
            json.dump(report, f)
        return
    if report["failed"]:   # a protection the parent relies on did not come up: refuse
        sys.stderr.write(f"edu-nn sandbox: protections failed: {report['failed']}\n")
        sys.stderr.flush()
        os._exit(EXIT_PROTECTION_FAILED)

    sys.meta_path.insert(0, _Blocker(cfg.get("blocked", BLOCKED)))
    work, drivers = cfg["work"], cfg["drivers"]
    sys.path[:] = [p for p in sys.path if p not in ("", ".")] + [work, drivers]
    sys.dont_write_bytecode = True
    import numpy as np

    result = cfg["result"]
    try:
        with np.load(cfg["inputs"], allow_pickle=False) as npz:
            args, kwargs = _decode(json.loads(str(npz["__meta__"])), npz)
        if cfg["kind"] == "call":
            module_name = cfg["file"][:-3].replace("/", ".")
            target = importlib.import_module(module_name)
        else:
            path = os.path.join(drivers, cfg["file"])
            spec = importlib.util.spec_from_file_location(
                "_edu_nn_driver_" + os.path.basename(cfg["file"])[:-3], path)
            target = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(target)
        for part in cfg["qualname"].split("."):
            target = getattr(target, part)
        value = target(*args, **kwargs)
        arrays = {}
        try:
            meta = {"ok": True, "value": _encode(value, arrays, np)}
        except TypeError as exc:     # not plain data: say what came back
            arrays = {}
            meta = {"ok": False, "error": {"type": "ReturnValue", "message": str(exc),
                                            "traceback": []}}
    except BaseException as exc:  # noqa: BLE001 - student code may raise anything, even exit
        name, message = _describe(exc)
        if isinstance(exc, SystemExit):
            message = f"your code called sys.exit({message}) (or raised SystemExit)"
        arrays = {}
        meta = {"ok": False, "error": {"type": name, "message": message,
                                        "traceback": _student_traceback(exc, [work])}}
    try:
        _write(result, meta, arrays, np)
    except BaseException as exc:  # noqa: BLE001
        name, message = _describe(exc)
        _write(result, {"ok": False, "error": {"type": name, "message": message,
                                                 "traceback": []}}, {}, np)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(0)   # skip the student's atexit handlers and finalizers


if __name__ == "__main__":
    main(sys.argv[1])
