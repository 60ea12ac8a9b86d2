"""The jail: an allow-listed root folder for graded children, fresh uids, and certain clean-up.

A graded child (as root: started by ``chroot``, then dropping to its own uid) sees only this
folder as ``/``::

    /<python prefix>/bin/python3.X    the grader's base interpreter (hard links or copies)
    /<python prefix>/lib/python3.X    its standard library (no site-packages, no tests)
    /lib..., /usr/lib...              the shared libraries these need (found with ldd)
    /site/numpy, /site/numpy.libs     numpy, the only third-party package
    /edu_nn_child.py                  the driver that runs one call (child.py)
    /calls/<random>/work, tmp         one call's own folders: 0700, owned by the call's uid

Nothing else is there: not edu_nn, not the assignment or its solution, not other
submissions, not /proc, /tmp, /dev/shm or any socket of the machine. This is the allow-list
of DESIGN.md by construction, and it needs only what Docker's default capabilities give root
(CAP_SYS_CHROOT, CAP_SETUID), so it holds on Gradescope too.

Each call runs under a uid from :data:`UID_RANGE` that no process holds (an ``flock`` per uid
keeps parallel graders apart, and a /proc scan skips a uid anything still runs as). After the
call every process of that uid is killed with ``kill(-1, SIGKILL)`` issued *as that uid*, which
the kernel applies atomically with respect to fork, so nothing forks its way out; SysV IPC
objects the uid made are removed.
"""
from __future__ import annotations

import atexit
import fcntl
import os
import random
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path

__all__ = ["Jail", "UidLease", "UID_RANGE", "kill_uid", "remove_ipc", "processes_of",
           "CHILD_SOURCE"]

CHILD_SOURCE = Path(__file__).with_name("child.py")
#: Unprivileged uids for graded calls (nothing on a normal system uses this range).
UID_RANGE = (61000, 64999)
#: Standard-library folders a graded call never needs (tests alone are half its size).
_STDLIB_SKIP = re.compile(r"^(test|tests|idlelib|tkinter|turtledemo|ensurepip|lib2to3|"
                          r"site-packages|dist-packages|config-[^/]*|__phello__)$")
_MARK = ".edu-nn-jail"


def _link_or_copy(src: str, dst: str) -> None:
    """Hard link where the file is world-readable already (fast, no space), else a copy that
    is made world-readable (the child's uid must read it; it can never write it)."""
    mode = os.stat(src).st_mode
    if mode & 0o004 and (not mode & 0o100 or mode & 0o001):
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    shutil.copyfile(src, dst)
    os.chmod(dst, 0o755 if mode & 0o111 else 0o644)


def _place(root: Path, path: str) -> Path:
    """``root`` + the absolute ``path``, with its folders made (0755, root's: set explicitly,
    since the grader may run under a strict umask, as run_autograder's 077)."""
    target = root / path.lstrip("/")
    folder = root
    for part in target.relative_to(root).parts[:-1]:
        folder = folder / part
        if not folder.is_dir():
            folder.mkdir()
            os.chmod(folder, 0o755)
    return target


def _copy_tree(src: str, dst: Path, skip=None) -> None:
    for folder, dirs, files in os.walk(src):
        rel = os.path.relpath(folder, src)
        if skip is not None:
            dirs[:] = [d for d in dirs if not skip.match(d)]
        out = dst if rel == "." else dst / rel
        out.mkdir(parents=True, exist_ok=True, mode=0o755)
        os.chmod(out, 0o755)
        for name in files:
            path = os.path.join(folder, name)
            if os.path.islink(path) or not os.path.isfile(path) or name.endswith(".pyc") and \
                    ".opt-" in name:
                continue
            _link_or_copy(path, str(out / name))


def _shared_libraries(files: list[str]) -> set[str]:
    """Every shared library (and the loader) that ``files`` load, by ``ldd``."""
    found: set[str] = set()
    for start in range(0, len(files), 200):
        done = subprocess.run(["ldd", *files[start:start + 200]], capture_output=True,
                              text=True, env={"LC_ALL": "C", "PATH": os.defpath})
        for line in done.stdout.splitlines():
            match = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
            if match:
                found.add(match.group(1))
    return found


class Jail:
    """The jail's root folder for this grading process (built once, removed at exit).

    ``python`` is the interpreter's path inside the jail; ``root`` the folder on the host.
    """

    _current: "Jail | None" = None
    _lock = threading.Lock()

    def __init__(self, root: Path, python: str) -> None:
        self.root, self.python = root, python
        self.calls = root / "calls"

    @classmethod
    def get(cls) -> "Jail":
        with cls._lock:
            if cls._current is None:
                cls._current = cls._reuse() or cls._build()
            return cls._current

    @classmethod
    def _reuse(cls) -> "Jail | None":
        """A jail built by the grading process that started this one (``grade-all``'s
        workers), named by EDU_NN_JAIL: used only when root owns it and nobody else can
        write it."""
        path = os.environ.get("EDU_NN_JAIL")
        if not path:
            return None
        root = Path(path)
        try:
            st, mark = root.lstat(), (root / _MARK).read_text().strip()
        except OSError:
            return None
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o022:
            return None
        return cls(root, mark)

    @classmethod
    def _build(cls) -> "Jail":
        start = time.perf_counter()
        root = Path(tempfile.mkdtemp(prefix="edu-nn-jail-"))
        os.chmod(root, 0o755)
        atexit.register(shutil.rmtree, root, True)
        base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
        stdlib = sysconfig.get_paths()["stdlib"]
        if not os.path.isfile(os.path.join(stdlib, "os.py")):
            stdlib = os.path.join(sys.base_prefix, "lib",
                                  f"python{sys.version_info[0]}.{sys.version_info[1]}")
        stdlib = os.path.realpath(stdlib)
        _link_or_copy(base, str(_place(root, base)))
        _copy_tree(stdlib, _place(root, stdlib), _STDLIB_SKIP)
        import numpy
        numpy_dir = os.path.dirname(os.path.realpath(numpy.__file__))
        site = root / "site"
        _copy_tree(numpy_dir, site / "numpy")
        libs = os.path.join(os.path.dirname(numpy_dir), "numpy.libs")
        if os.path.isdir(libs):
            _copy_tree(libs, site / "numpy.libs")
        binaries = [base] + [str(p) for p in [*Path(stdlib, "lib-dynload").glob("*.so"),
                                               *Path(numpy_dir).rglob("*.so")]]
        for lib in _shared_libraries(binaries):
            real = os.path.realpath(lib)
            if real.startswith((numpy_dir + os.sep, libs + os.sep)):
                continue                   # numpy finds its own libraries by $ORIGIN
            for name in {lib, real}:       # the name the loader asks for, and the file
                target = _place(root, name)
                if not target.exists():
                    _link_or_copy(real, str(target))
        shutil.copyfile(CHILD_SOURCE, root / "edu_nn_child.py")
        os.chmod(root / "edu_nn_child.py", 0o644)
        (root / "calls").mkdir(mode=0o711)
        os.chmod(root / "calls", 0o711)    # a call may enter its own folder, list none
        dev = root / "dev"
        dev.mkdir()
        os.chmod(dev, 0o755)
        for name, minor in (("null", 3), ("zero", 5), ("urandom", 9)):
            try:                           # optional: Python needs none of them
                os.mknod(dev / name, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
                os.chmod(dev / name, 0o666)
            except OSError:
                pass
        for folder, dirs, _ in os.walk(root):   # whatever the umask made them (calls: 0711)
            dirs[:] = [d for d in dirs if not (folder == str(root) and d == "calls")]
            os.chmod(folder, 0o755)
        (root / _MARK).write_text(base + "\n")
        os.environ["EDU_NN_JAIL"] = str(root)    # grade-all's workers reuse it
        jail = cls(root, base)
        jail.seconds = time.perf_counter() - start
        return jail

    def new_call_folder(self, uid: int | None) -> tuple[Path, str]:
        """A fresh folder for one call (its uid's alone): host path and path in the jail.

        Folders the uid still owns are removed first: they are left by a grading process that
        died mid-call (the uid's lock died with it), and nothing of a uid may outlive its
        lease."""
        if uid is not None:
            for entry in os.scandir(self.calls):
                if entry.stat(follow_symlinks=False).st_uid == uid:
                    shutil.rmtree(entry.path, ignore_errors=True)
        name = secrets.token_hex(16)
        folder = self.calls / name
        folder.mkdir(mode=0o700)
        if uid is not None:
            os.chown(folder, uid, uid)
        return folder, f"/calls/{name}"


# ------------------------------------------------------------------------ uids
def processes_of(uid: int) -> list[int]:
    """PIDs of the live (not zombie) processes whose real or effective uid is ``uid``."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            uids = fields["Uid"].split()
            if fields["State"].split()[0] != "Z" and str(uid) in uids[:2]:
                pids.append(int(entry))
        except (OSError, KeyError, ValueError, IndexError):
            continue
    return pids


def kill_uid(uid: int, rounds: int = 20) -> bool:
    """Kill every process of ``uid``: ``kill -9 -1`` run *as* ``uid`` (the kernel signals all
    its processes at once, so a fork cannot escape), repeated until /proc shows none.
    Returns True when none is left."""
    for _ in range(rounds):
        if not processes_of(uid):
            return True
        subprocess.run(["kill", "-9", "-1"], user=uid, group=uid, extra_groups=[],
                       env={"PATH": "/usr/bin:/bin"}, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        time.sleep(0.01)
    return not processes_of(uid)


def remove_ipc(uid: int) -> None:
    """Remove SysV shared memory, semaphores and message queues that ``uid`` created (they
    outlive processes and would let a later call read them)."""
    import ctypes
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return
    ipc_rmid = 0
    for table, remove in (("shm", libc.shmctl), ("sem", libc.semctl), ("msg", libc.msgctl)):
        try:
            lines = Path(f"/proc/sysvipc/{table}").read_text().splitlines()
        except OSError:
            continue
        header = lines[0].split() if lines else []
        for line in lines[1:]:
            row = dict(zip(header, line.split()))
            if row.get("uid") == str(uid) or row.get("cuid") == str(uid):
                args = (int(row["id"]), 0, ipc_rmid) if table == "sem" else \
                    (int(row["shmid" if table == "shm" else "msqid"]), ipc_rmid, None)
                remove(*args)


#: Every uid this process has leased, in order (the tests check what each left behind), and
#: those whose processes survived clean-up (kept locked for this process's life).
LEASED: list[int] = []
SURVIVED: list[int] = []


class UidLease:
    """A uid from :data:`UID_RANGE` for one call: no other grading process holds it (an
    ``flock`` per uid) and no process runs as it. Freed (:meth:`unlock`) only after
    :meth:`clean_up` and the removal of the call's folder."""

    _order: list[int] = []

    @staticmethod
    def folder() -> Path:
        """Where the per-uid lock files are (root's own)."""
        return Path("/run/edu-nn-uids") if os.access("/run", os.W_OK) else \
            Path(tempfile.gettempdir()) / "edu-nn-uids"

    def __init__(self) -> None:
        folder = self.folder()
        folder.mkdir(mode=0o700, exist_ok=True)
        if folder.lstat().st_uid != 0 or folder.is_symlink():
            raise RuntimeError(f"{folder} is not root's own folder")
        lo, hi = UID_RANGE
        if not UidLease._order:       # each process walks the range from its own start
            start = random.SystemRandom().randrange(lo, hi + 1)
            UidLease._order = [lo + (start - lo + k) % (hi - lo + 1) for k in range(hi - lo + 1)]
        for _ in range(len(UidLease._order)):
            uid = UidLease._order.pop(0)
            UidLease._order.append(uid)    # used last again: the longest time to die out
            fd = os.open(folder / str(uid), os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            if processes_of(uid):          # something of an earlier call still lives
                os.close(fd)
                continue
            self.uid, self._fd = uid, fd
            LEASED.append(uid)
            return
        raise RuntimeError("no free uid for a graded call")

    def clean_up(self) -> bool:
        """Kill what is left of the uid and remove its IPC objects; False when a process
        survived. (The caller removes the call's folder, then calls :meth:`unlock`.)"""
        clean = kill_uid(self.uid)
        remove_ipc(self.uid)
        return clean

    def unlock(self, clean: bool) -> None:
        """Free the uid for other calls, unless a process of it survived: then it stays
        locked for this process's life."""
        if clean:
            os.close(self._fd)
        else:
            SURVIVED.append(self.uid)


def signal_name(code: int) -> str:
    try:
        return signal.Signals(code).name
    except ValueError:
        return f"signal {code}"
