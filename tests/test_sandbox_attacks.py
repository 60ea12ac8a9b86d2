"""Attacks on the grader by class (issue 13), graded in every mode the grader runs in.

Each submission is a student's ``ops.py`` for tests/fixtures/grading/adv (7 points). The honest
right answer scores 7 and the honest wrong one 0; every attack below returns wrong answers or
none, so it must score 0, and its results.json must be valid strict UTF-8 JSON. After each
batch nothing may be left: no process of a grading uid, no file of one in /tmp, /var/tmp or
/dev/shm, no SysV IPC object, no call folder in the jail, and no connection to the sockets the
test listens on (TCP, a Unix socket file in /tmp, an abstract Unix socket).

Modes: as root with namespaces (CI, an instructor's machine), as root with the uid drop only
(``EDU_NN_SANDBOX_NAMESPACES=0``: Gradescope's Docker has no CAP_SYS_ADMIN), and as a
non-root user, where ``edu-nn grade`` must refuse unless ``--unsandboxed`` is given.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import edu_nn.grading.sandbox as sandbox
from edu_nn.grading.grader import SandboxUnavailable, grade_submission
from edu_nn.grading.results import validate_results, write_results
from edu_nn.grading.sandbox.jail import LEASED, SURVIVED, Jail, UidLease

ADV = Path(__file__).parent / "fixtures" / "grading" / "adv"
RIGHT = (ADV / "ops.py").read_text()
WRONG = RIGHT.replace("return x @ W", "return 0.5 * (x @ W)") \
             .replace("grad_x = grad @ W.T", "grad_x = 0.5 * (grad @ W.T)")
ROOT = os.geteuid() == 0

ATTACKS = {
    # cross-student access, allow-list: look for everything a child should not see
    "spy": '''
        import os, sys
        found = {}
        for path in ["/calls", "/", "/proc", "/tmp", "/dev/shm", "/autograder/source", "/etc",
                     "@ADV@", "@ADV@/tests/hidden_adv.py", "@ADV@/ops.py", "@SITE@", "/root"]:
            try:
                found[path] = sorted(os.listdir(path))[:50] if os.path.isdir(path) else \\
                    open(path).read(40)
            except OSError as exc:
                found[path] = type(exc).__name__
        import json
        print("FOUND", json.dumps(found))
        print("ENV", sorted(os.environ))
        for where in ("/tmp/x", "/dev/shm/x", "/var/tmp/x", "x"):
            try:
                open(where, "w").write("left behind")
                print("WROTE", where)
            except OSError as exc:
                print("NOWRITE", where, type(exc).__name__)
        @WRONG@''',
    # borrow autograd: remove the import hook, put the grader's site-packages on the path
    "borrow_autograd": '''
        import sys
        sys.meta_path[:] = [f for f in sys.meta_path if "Blocker" not in type(f).__name__]
        sys.path += ["@SITE@", "@REPO@"]
        try:
            import edu_nn
            print("BORROWED edu_nn")
        except ImportError as exc:
            print("NO edu_nn:", exc)
        try:
            import torch
            print("BORROWED torch")
        except ImportError as exc:
            print("NO torch:", exc)
        @WRONG@''',
    # run the instructor's solution by path (the one-line Gradescope attack)
    "exec_solution": '''
        stolen = {}
        for path in ["/autograder/source/assignment/ops.py", "@ADV@/ops.py"]:
            try:
                exec(open(path).read(), stolen)
                print("EXECUTED", path)
                break
            except OSError as exc:
                print("NO", path, type(exc).__name__)
        @WRONG@
        if "matmul_backward" in stolen:
            linear_forward, matmul_backward = stolen["linear_forward"], stolen["matmul_backward"]
        ''',
    # processes that outlive the call: a double-forked daemon, and a forking loop
    "daemon": '''
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(60)
                os._exit(0)
            os._exit(0)
        @WRONG@''',
    "fork_race": '''
        import os, time
        def spawn():
            for _ in range(50):
                try:
                    if os.fork() == 0:
                        time.sleep(0.01)
                        spawn()
                        time.sleep(60)
                        os._exit(0)
                except OSError:
                    time.sleep(0.01)
        spawn()
        @WRONG@''',
    # the parent must not trust anything the child leaves: a FIFO and a folder where the old
    # result file was, garbage on every inherited descriptor, the grader's own exit status
    "fake_channels": '''
        import os
        os.mkfifo("result.npz")
        os.mkdir("status")
        for fd in range(3, 12):
            try:
                os.write(fd, b"PK\\x03\\x04 garbage {\\"ready\\": true}")
            except OSError:
                pass
        os._exit(71)
        ''',
    # leaks: sockets of every kind, tmpfs, SysV shared memory, an invalid-Unicode message
    "sockets": '''
        import socket
        for family, address in [(socket.AF_INET, ("127.0.0.1", @PORT@)),
                                (socket.AF_UNIX, "@UNIX@"), (socket.AF_UNIX, "\\0@ABSTRACT@")]:
            try:
                s = socket.socket(family, socket.SOCK_STREAM)
                s.connect(address)
                print("CONNECTED", address)
            except OSError as exc:
                print("NOCONNECT", type(exc).__name__)
        @WRONG@''',
    "tmpfs_bomb": '''
        for path in ["/dev/shm/bomb", "/tmp/bomb", "bomb"]:
            try:
                with open(path, "wb") as f:
                    for _ in range(1200):
                        f.write(b"x" * 2 ** 20)
            except OSError as exc:
                print("STOPPED", path, type(exc).__name__)
        @WRONG@''',
    "sysv_shm": '''
        import ctypes
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        print("SHMID", libc.shmget(0, 4096, 0o1666))
        @WRONG@''',
    "surrogate": '''
        raise ValueError("bad \\udcff byte \\ud800")
        ''',
}


def _fill(text: str, subs: dict) -> str:
    text = textwrap.dedent(text)
    for key, value in subs.items():
        text = text.replace(f"@{key}@", value)
    return text


def _lock_free_uids(uids) -> tuple[set[int], list[int]]:
    """Take the lease lock of each uid nobody holds (so no grader can lease it while we look):
    the uids, and the descriptors to close when done."""
    import fcntl
    free, fds = set(), []
    for uid in set(uids):
        try:
            fd = os.open(UidLease.folder() / str(uid), os.O_RDWR | os.O_NOFOLLOW)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)          # in use by a grader now: what runs under it is theirs
            continue
        free.add(uid)
        fds.append(fd)
    return free, fds


def _leftovers() -> list[str]:
    """What the uids this process graded with still have on this machine. Other grading
    processes (pytest-xdist workers, grade-all's) may lease the same uids after us, so only
    uids no grader holds are looked at, and we hold their locks while we look."""
    assert LEASED, "no call ran under a uid of its own"
    left = [f"a process of uid {uid} survived clean-up" for uid in SURVIVED]
    used, fds = _lock_free_uids(LEASED)
    try:
        return left + _left_by(used)
    finally:
        for fd in fds:
            os.close(fd)


def _left_by(used: set[int]) -> list[str]:
    left = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            uid = int(fields["Uid"].split()[0])
            if uid in used and fields["State"].split()[0] != "Z":
                left.append(f"process {entry} of uid {uid}")
    own_jail = str(Jail.get().root) if sandbox.protections().jail else None
    for folder in ("/tmp", "/var/tmp", "/dev/shm"):
        for dirpath, dirnames, filenames in os.walk(folder):
            # other grading processes' jails are theirs (one killed mid-call, as a grade-all
            # test does, leaves a folder that the next lease of its uid removes); ours is
            # checked below
            dirnames[:] = [d for d in dirnames if not (d.startswith("edu-nn-jail-") and
                                                       os.path.join(dirpath, d) != own_jail)]
            for name in dirnames + filenames:
                try:
                    uid = os.lstat(os.path.join(dirpath, name)).st_uid
                except OSError:
                    continue
                if uid in used:
                    left.append(f"file {os.path.join(dirpath, name)} of uid {uid}")
            if dirpath.count(os.sep) > 3:
                dirnames[:] = []
    for table in ("shm", "sem", "msg"):
        try:
            lines = Path(f"/proc/sysvipc/{table}").read_text().splitlines()
        except OSError:
            continue
        header = lines[0].split() if lines else []
        for line in lines[1:]:
            uid = int(dict(zip(header, line.split()))["uid"])
            if uid in used:
                left.append(f"SysV {table} of uid {uid}")
    calls = Jail.get().calls if sandbox.protections().jail else None
    if calls is not None and any(calls.iterdir()):
        left.append(f"call folders in {calls}: {os.listdir(calls)}")
    return left


class Listeners:
    """A TCP socket, a Unix socket file anyone may connect to, and an abstract Unix socket."""

    def __init__(self, folder: Path) -> None:
        self.accepted: list = []
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.unix_path = str(folder / "grader.sock")
        self.unix = socket.socket(socket.AF_UNIX)
        self.unix.bind(self.unix_path)
        os.chmod(self.unix_path, 0o777)
        self.abstract_name = f"edu-nn-test-{os.getpid()}"
        self.abstract = socket.socket(socket.AF_UNIX)
        self.abstract.bind("\0" + self.abstract_name)
        self.stop = threading.Event()
        self.threads = []
        for s in (self.tcp, self.unix, self.abstract):
            s.listen(8)
            s.settimeout(0.1)
            t = threading.Thread(target=self._accept, args=(s,), daemon=True)
            t.start()
            self.threads.append(t)

    def _accept(self, s) -> None:
        while not self.stop.is_set():
            try:
                self.accepted.append(s.accept())
            except OSError:
                pass

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(1)
        for s in (self.tcp, self.unix, self.abstract):
            s.close()


@pytest.fixture(params=["namespaces", "uid-only"])
def mode(request, monkeypatch):
    """The grader's protections in this mode (root only; as on CI and Gradescope)."""
    if not ROOT:
        pytest.skip("grading with a jail needs root (CI runs as root)")
    monkeypatch.setenv("EDU_NN_SANDBOX_NAMESPACES", "1" if request.param == "namespaces" else "0")
    saved = sandbox._PROTECTIONS
    sandbox._PROTECTIONS = None
    prot = sandbox.protections()
    assert prot.jail, prot.why
    if request.param == "namespaces" and not (prot.netns and prot.pidns):
        pytest.skip(f"no namespaces on this machine: {prot.notes}")
    if request.param == "uid-only":
        assert not prot.netns and not prot.pidns
    yield prot
    sandbox._PROTECTIONS = saved


def _grade_batch(tmp_path: Path, texts: dict[str, str]) -> dict[str, dict]:
    """Grade each submission, two at a time (so two students' calls run side by side)."""
    def one(kind):
        folder = tmp_path / kind
        folder.mkdir()
        (folder / "ops.py").write_text(texts[kind])
        results = grade_submission(folder, ADV)
        write_results(results, folder / "results.json")
        raw = (folder / "results.json").read_bytes()
        return kind, results, json.loads(raw.decode("utf-8"))     # strict UTF-8
    with ThreadPoolExecutor(2) as pool:
        return {kind: (results, written) for kind, results, written in pool.map(one, texts)}


def _text(results: dict) -> str:
    return "\n".join([results["output"], *(t["output"] for t in results["tests"])])


def test_every_attack_class_scores_zero_and_leaves_nothing(mode, tmp_path):
    import numpy as np
    listeners = Listeners(tmp_path)
    subs = {"ADV": str(ADV), "SITE": str(Path(np.__file__).resolve().parents[1]),
            "REPO": str(Path(__file__).resolve().parents[1]), "WRONG": WRONG,
            "PORT": str(listeners.tcp.getsockname()[1]), "UNIX": listeners.unix_path,
            "ABSTRACT": listeners.abstract_name}
    texts = {kind: _fill(code, subs) for kind, code in ATTACKS.items()}
    texts["honest_right"] = RIGHT
    start = time.perf_counter()
    try:
        graded = _grade_batch(tmp_path, texts)
    finally:
        listeners.close()
    seconds = time.perf_counter() - start
    print(f"\n{mode.mode} netns={mode.netns}: {len(graded)} submissions in {seconds:.1f} s")
    assert graded["honest_right"][0]["score"] == 7.0, _text(graded["honest_right"][0])
    for kind in ATTACKS:
        results, written = graded[kind]
        assert validate_results(written) == [], kind
        assert results["score"] == 0.0, (kind, _text(results))
    assert listeners.accepted == [], "a child reached a socket of the grader's machine"
    assert _leftovers() == []

    spy = _text(graded["spy"][0])
    found = json.loads(spy.split("FOUND ", 1)[1].splitlines()[0])
    for path in ("/proc", "/tmp", "/dev/shm", "/autograder/source", str(ADV / "ops.py"),
                 str(ADV / "tests" / "hidden_adv.py"), subs["SITE"]):
        assert found[path] == "FileNotFoundError", (path, found[path])
    assert found["/calls"] == "PermissionError"
    assert {"calls", "site", "edu_nn_child.py"} <= set(found["/"])    # the jail's own root
    assert not {"etc", "home", "proc", "tmp", "var", "work", "autograder"} & set(found["/"])
    assert "WROTE /tmp/x" not in spy and "WROTE /dev/shm/x" not in spy and "WROTE x" in spy
    env = spy.split("ENV ", 1)[1].splitlines()[0]
    assert "EDU_NN" not in env and "PATH" in env
    borrow = _text(graded["borrow_autograd"][0])
    assert "BORROWED" not in borrow and "NO edu_nn" in borrow and "NO torch" in borrow
    assert "EXECUTED" not in _text(graded["exec_solution"][0])
    fake = _text(graded["fake_channels"][0])
    assert "not your fault" not in fake and ("exit status 71" in fake or "cannot read" in fake)
    assert "CONNECTED" not in _text(graded["sockets"][0])
    bomb = _text(graded["tmpfs_bomb"][0])
    assert "STOPPED /dev/shm/bomb FileNotFoundError" in bomb and "STOPPED bomb" in bomb
    assert "bad \ufffd byte \ufffd" in _text(graded["surrogate"][1])


def test_a_hang_at_import_costs_one_limit_not_one_per_test(mode, tmp_path):
    folder = tmp_path / "hang"
    folder.mkdir()
    (folder / "ops.py").write_text("while True:\n    pass\n")
    start = time.perf_counter()
    results = grade_submission(folder, ADV)
    seconds = time.perf_counter() - start
    assert results["score"] == 0 and validate_results(results) == []
    # ops.py hangs, and so does the driver that imports it
    assert all("took longer than 2 s: an infinite loop or heavy work at the top level" in
               t["output"] for t in results["tests"]), [t["output"] for t in results["tests"]]
    assert "importing ops.py took longer than 2 s" in results["output"]
    assert results["extra_data"]["status"] == "timeout"
    assert seconds < 2 + 3 + 5, seconds     # the probe's limit, start-up, and no more
    assert _leftovers() == []


def test_the_time_budget_fails_later_tests_at_once(mode, tmp_path):
    assignment = tmp_path / "adv"
    shutil.copytree(ADV, assignment)
    toml = assignment / "assignment.toml"
    toml.write_text(toml.read_text().replace("import_timeout = 2", "import_timeout = 2\n"
                                                                   "time_budget = 2.5"))
    folder = tmp_path / "slow"
    folder.mkdir()
    (folder / "ops.py").write_text(RIGHT.replace('"""A matmul', 'import time\n"""A matmul')
                                   .replace("    return x @ W", "    while True: pass"))
    results = grade_submission(folder, assignment)
    outputs = [t["output"] for t in results["tests"]]
    assert any("time for grading the whole submission is used up" in o for o in outputs), \
        outputs
    assert results["execution_time"] < 2.5 + 5


def test_a_memory_kill_names_the_real_limit(monkeypatch):
    monkeypatch.setattr(sandbox, "_memory_limit_mb", lambda: 1200.0)
    import signal
    result = sandbox._outcome(-signal.SIGKILL, False, None, "", 0.5, 10.0, 2048, 1190.0)
    assert "this machine allows 1200 MB" in result.error and "2048" not in result.error
    assert "1190 MB" in result.error


def test_grading_refuses_without_a_jail_unless_told(monkeypatch, tmp_path):
    """As root where no jail can be built (no chroot, say), and as any non-root user."""
    monkeypatch.setattr(sandbox, "_PROTECTIONS", sandbox.Protections("unsandboxed",
                                                                     why="no chroot (a test)"))
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "ops.py").write_text(RIGHT)
    with pytest.raises(SandboxUnavailable, match="--unsandboxed"):
        grade_submission(folder, ADV)
    results = grade_submission(folder, ADV, unsandboxed=True)
    assert results["score"] == 7.0
    assert any("UNSANDBOXED" in note for note in results["extra_data"]["staff"])
    assert "UNSANDBOXED" not in results["output"]        # staff-only, not the student's


@pytest.mark.skipif(not ROOT, reason="needs root to run the grader as another user")
def test_a_non_root_grader_refuses_unless_unsandboxed(tmp_path):
    """The real thing: ``edu-nn grade`` as the user nobody, with a world-readable copy of the
    interpreter (the jail's), numpy and edu_nn."""
    jail = Jail.get()
    shared = Path("/tmp") / f"edu-nn-nobody-{os.getpid()}"
    shutil.rmtree(shared, ignore_errors=True)
    try:
        repo = Path(__file__).resolve().parents[1]
        shutil.copytree(repo / "edu_nn", shared / "lib" / "edu_nn",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(repo / "backends", shared / "lib" / "edu_nn" / "backends",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(ADV, shared / "adv")
        (shared / "sub").mkdir()
        (shared / "sub" / "ops.py").write_text(RIGHT)
        (shared / "out").mkdir()
        os.chown(shared / "out", 65534, 65534)
        subprocess.run(["chmod", "-R", "a+rX", str(shared)], check=True)
        python = str(jail.root) + jail.python
        libdirs = sorted({str(p.parent) for p in jail.root.rglob("libpython*.so*")})
        env = {"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": ":".join(libdirs),
               "PYTHONPATH": f"{shared / 'lib'}:{jail.root / 'site'}", "HOME": str(shared)}

        def grade(*flags):
            return subprocess.run(
                [python, "-m", "edu_nn", "grade", str(shared / "sub"), "--assignment",
                 str(shared / "adv"), "--out", str(shared / "out" / "r.json"), *flags],
                user=65534, group=65534, extra_groups=[], env=env, capture_output=True,
                text=True, timeout=120, cwd=str(shared))
        refused = grade()
        assert refused.returncode == 2, refused.stderr
        assert "refusing to grade" in refused.stderr and "--unsandboxed" in refused.stderr
        written = json.loads((shared / "out" / "r.json").read_text())
        assert written["score"] == 0 and "could not sandbox" in written["output"]
        done = grade("--unsandboxed")
        assert done.returncode == 0, done.stderr
        results = json.loads((shared / "out" / "r.json").read_text())
        assert results["score"] == 7.0
        assert results["extra_data"]["sandbox"]["mode"] == "unsandboxed"
    finally:
        shutil.rmtree(shared, ignore_errors=True)


@pytest.mark.parametrize("name", ["hw1_autograd", "hw2_mlp", "hw3_cnn"])
def test_a_hang_at_import_is_graded_within_90_s_on_every_assignment(name, tmp_path):
    """The solution with a hang put at the top of every submitted file: every test fails,
    each saying so, and the whole grading takes one import limit, not one per test."""
    from edu_nn.grading.assign import assign
    from edu_nn.grading.manifest import load_manifest
    if not (ROOT and sandbox.protections().jail):
        pytest.skip("needs the jail (root)")
    source = Path(__file__).resolve().parents[1] / "assignments" / name
    made = assign(source, tmp_path / "out", validate=False, pypi=True)
    submission = tmp_path / "hang"
    shutil.copytree(made.solution, submission)
    for file in load_manifest(source).files:
        path = submission / file
        path.write_text("import time\ntime.sleep(3600)\n" + path.read_text())
    start = time.perf_counter()
    results = grade_submission(submission, made.autograder / "assignment")
    seconds = time.perf_counter() - start
    assert seconds <= 90, seconds
    assert results["score"] == 0 and results["tests"], results["output"]
    assert all("took longer than" in t["output"] and "top level" in t["output"]
               for t in results["tests"]), [t["output"][:200] for t in results["tests"]]
    assert results["extra_data"]["status"] == "timeout"


@pytest.mark.skipif(not ROOT, reason="needs root for a uid of its own")
def test_a_folder_left_by_a_dead_grader_is_gone_before_its_uid_is_used_again(tmp_path):
    """A grading process killed mid-call leaves its call folder (its lock dies with it); the
    next lease of that uid must not find anything of it."""
    if not sandbox.protections().jail:
        pytest.skip("needs the jail")
    jail = Jail.get()
    lease = UidLease()
    try:
        stale, _ = jail.new_call_folder(lease.uid)
        (stale / "work").mkdir()
        (stale / "work" / "ops.py").write_text("secret = 1\n")
        os.chown(stale / "work", lease.uid, lease.uid)
        fresh, _ = jail.new_call_folder(lease.uid)     # as the next call of this uid would
        assert not stale.exists() and fresh.exists()
        shutil.rmtree(fresh)
    finally:
        lease.unlock(lease.clean_up())
