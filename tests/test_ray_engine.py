"""``--engine ray`` of ``edu-nn grade-all`` and ``edu-nn tune`` on a local 2-CPU Ray cluster.

One cluster per module (Ray takes ~10 s to start): ``ray start --head --block --num-cpus 2``
in a subprocess of its own, reached with ``--address`` as a real cluster would be, and
stopped (SIGTERM to that process, which ends the raylet and its workers) at the end. Its
workers' temporary folders (the sandbox's jails, unpacked assignments) live in the module's
own folder (TMPDIR), removed with it. Token authentication is on, with a token made here
(RAY_AUTH_TOKEN), so whatever ~/.ray holds does not matter.

The 30 mixed submissions are tests/test_grade_all.py's. The tests that kill a worker find
it among the cluster's processes by its title, ``ray::grade_packed`` (Ray names a worker
after the task it runs), and SIGKILL it while it grades.
"""
from __future__ import annotations

import csv
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from edu_nn import cli
from test_grade_all import ADV, KINDS, make_export

pytestmark = pytest.mark.xdist_group("ray")

TIMES = ("seconds", "execution_time", "call_seconds", "wall_time_s", "time")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster():
    """``(address, pid of 'ray start', its workers' TMPDIR)``: a 2-CPU local cluster."""
    if shutil.which("ray", path=os.path.dirname(sys.executable)) is None:
        if os.environ.get("CI"):
            pytest.fail('Ray is not installed, but CI must test --engine ray: pip install '
                        '-e ".[all]" (the ray extra)')
        pytest.skip('Ray is not installed (pip install "edu_nn[ray]")')
    top = Path(tempfile.mkdtemp(prefix="edu-nn-ray-"))   # short: Ray's socket paths
    (top / "work").mkdir()
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    port = _free_port()
    env = {**os.environ, **auth, "TMPDIR": str(top / "work")}
    log = open(top / "ray-start.log", "w+")
    cluster = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "ray"), "start", "--head", "--block",
         "--num-cpus", "2", "--port", str(port), "--temp-dir", str(top / "ray"),
         "--object-store-memory", str(200 * 2 ** 20), "--include-dashboard", "false",
         "--disable-usage-stats"], stdout=log, stderr=subprocess.STDOUT, env=env,
        start_new_session=True)
    patch = pytest.MonkeyPatch()
    try:
        for name, value in auth.items():          # the driver (this process) too
            patch.setenv(name, value)
        deadline = time.monotonic() + 120
        while "--block" not in (top / "ray-start.log").read_text():
            if cluster.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ray start failed:\n{(top / 'ray-start.log').read_text()[-3000:]}")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}", cluster.pid, top / "work"
    finally:
        patch.undo()
        cluster.send_signal(signal.SIGTERM)       # ray start --block stops what it started
        try:
            cluster.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait(10)
        log.close()
        shutil.rmtree(top, ignore_errors=True)


# ------------------------------------------------------------------ helpers
def _rows(out: Path) -> list[dict]:
    """The gradebook's rows without what differs between runs: the times."""
    with open(out / "gradebook.csv") as f:
        rows = list(csv.DictReader(f))
    return [{k: v for k, v in r.items() if k != "seconds" and not k.endswith(" s")}
            for r in rows]


def _untimed(value):
    """results.json without its times (execution_time, call_seconds)."""
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k not in TIMES}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc), the cluster's own processes."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _title(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _kill_one_grading_worker(cluster_pid: int, stop: threading.Event, killed: list) -> None:
    """SIGKILL the first of the cluster's workers seen running a grading task."""
    while not stop.is_set():
        for pid in _descendants(cluster_pid):
            if _title(pid).startswith("ray::grade_packed"):
                time.sleep(0.3)                 # mid-submission, not at its first line
                if _title(pid).startswith("ray::grade_packed"):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
        time.sleep(0.05)


def _small_export(folder: Path) -> dict[str, tuple]:
    """The 30-submission export, keeping two of each kind (16 submissions): enough to kill
    a worker mid-run, fast enough to grade twice."""
    expected = make_export(folder)
    kept, seen = {}, {}
    for sub, (kind, name, late) in sorted(expected.items()):
        seen[kind] = seen.get(kind, 0) + 1
        if seen[kind] <= 2:
            kept[sub] = (kind, name, late)
        else:
            shutil.rmtree(folder / sub)
    return kept


def _grade_while_killing(tmp_path, address, cluster_pid, *extra) -> tuple[list, dict, list]:
    folder, out = tmp_path / "export", tmp_path / "ray"
    folder.mkdir()
    expected = _small_export(folder)
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_one_grading_worker,
                              args=(cluster_pid, stop, killed), daemon=True)
    killer.start()
    try:
        rc = cli.main(["grade-all", str(folder), "--assignment", str(ADV), "--out", str(out),
                       "--engine", "ray", "--address", address, *extra])
    finally:
        stop.set()
        killer.join(5)
    assert rc == 0
    assert len(killed) == 1, "no grading worker was seen to kill"
    with open(out / "gradebook.csv") as f:
        rows = list(csv.DictReader(f))[1:]
    assert sorted(r["student"] for r in rows) == sorted(expected)   # nobody missing
    return rows, expected, killed


# ------------------------------------------------------------------ grade-all
def test_ray_gradebook_equals_the_local_one(ray_cluster, tmp_path, capsys):
    address, _, _ = ray_cluster
    folder = tmp_path / "export"
    folder.mkdir()
    expected = make_export(folder)
    assert len(expected) == 30
    args = ["grade-all", str(folder), "--assignment", str(ADV),
            "--due", "2026-12-01T23:59:00+00:00"]
    start = time.perf_counter()
    assert cli.main([*args, "-j", "2", "--out", str(tmp_path / "local")]) == 0
    local_s = time.perf_counter() - start
    assert cli.main([*args, "--engine", "ray", "--address", address,
                     "--out", str(tmp_path / "ray")]) == 0
    ray_s = time.perf_counter() - local_s - start
    assert "graded 30 submissions" in capsys.readouterr().out
    with capsys.disabled():
        print(f"\ngrade-all, 30 submissions: local -j 2 {local_s:.1f} s, Ray (2 CPUs, "
              f"running cluster) {ray_s:.1f} s")
    local, ray = _rows(tmp_path / "local"), _rows(tmp_path / "ray")
    assert ray == local
    assert len(ray) == 31                                   # the max-points row + 30
    statuses = {r["status"] for r in ray}
    assert statuses == {"", "graded", "ungradable", "timeout"}     # a mixed export
    for r in ray[1:]:       # and the right grades, not only the same ones
        kind = expected[r["student"]][0]
        assert (float(r["score"]), r["status"]) == KINDS[kind][2:]
    for sub in expected:
        a = json.loads((tmp_path / "local" / sub / "results.json").read_text())
        b = json.loads((tmp_path / "ray" / sub / "results.json").read_text())
        assert _untimed(b) == _untimed(a), sub


def test_a_killed_worker_is_retried_and_every_row_is_right(ray_cluster, tmp_path):
    address, cluster_pid, work = ray_cluster
    gone = subprocess.Popen(["true"])
    gone.wait()                                   # a PID that no longer runs
    left = work / f"edu-nn-ray-worker-{gone.pid}-x"      # what a killed worker leaves
    (left / "edu-nn-jail-y").mkdir(parents=True)
    alive = work / f"edu-nn-ray-worker-{os.getpid()}-x"  # a running process's: kept
    alive.mkdir()
    rows, expected, _ = _grade_while_killing(tmp_path, address, cluster_pid)
    for r in rows:          # the killed submission was graded again, on another worker
        kind = expected[r["student"]][0]
        assert (float(r["score"]), r["status"]) == KINDS[kind][2:], (kind, r)
    assert not left.exists() and alive.is_dir()   # removed by the run's new workers
    shutil.rmtree(alive)
    mine = list(work.glob("edu-nn-ray-worker-*"))
    assert mine and all(any(p.name.startswith("edu-nn-jail-") for p in f.iterdir())
                        for f in mine if f.is_dir()), "the jails are in the worker folders"


def test_a_killed_worker_without_retries_gives_an_error_row(ray_cluster, tmp_path):
    address, cluster_pid, _ = ray_cluster
    rows, expected, _ = _grade_while_killing(tmp_path, address, cluster_pid,
                                             "--max-retries", "0")
    errors = [r for r in rows if r["status"] == "error"]
    assert len(errors) == 1 and float(errors[0]["score"]) == 0.0
    results = json.loads((tmp_path / "ray" / errors[0]["student"] / "results.json")
                         .read_text())
    assert "worker process failed" in results["output"]
    assert "on Ray, 1 try" in results["output"] and "Error" in results["output"]
    for r in rows:
        if r is not errors[0]:
            kind = expected[r["student"]][0]
            assert (float(r["score"]), r["status"]) == KINDS[kind][2:], (kind, r)


# ------------------------------------------------------------------ tune
def test_tune_on_ray_equals_the_local_run(ray_cluster, tmp_path, monkeypatch):
    address, _, _ = ray_cluster
    args = ["tune", "--data", "xor", "--trials", "3", "--epochs", "1", "--search",
            "coarse-to-fine", "--rounds", "2"]
    assert cli.main([*args, "--out", str(tmp_path / "local")]) == 0

    def not_here(**kwargs):
        raise AssertionError("a trial ran in the driver, not on Ray")
    monkeypatch.setattr("edu_nn.train.experiment.run_experiment", not_here)
    assert cli.main([*args, "--engine", "ray", "--address", address,
                     "--out", str(tmp_path / "ray")]) == 0
    local = json.loads((tmp_path / "local" / "trials.json").read_text())
    ray = json.loads((tmp_path / "ray" / "trials.json").read_text())
    assert len(ray["trials"]) == 6 and all(t["status"] == "ok" for t in ray["trials"])
    assert _untimed(ray) == _untimed(local)                 # trial for trial
    assert len({t["metric"] for t in local["trials"]}) > 1  # the trials differ
    assert ((tmp_path / "ray" / "best.json").read_text()
            == (tmp_path / "local" / "best.json").read_text())
    with open(tmp_path / "ray" / "trials.csv") as f:
        assert len(list(csv.reader(f))) == 7


# ------------------------------------------------------------------ without Ray
def test_engine_ray_without_ray_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)       # `import ray` raises ImportError
    (tmp_path / "subs" / "ann").mkdir(parents=True)
    assert cli.main(["grade-all", str(tmp_path / "subs"), "--assignment", str(ADV),
                     "--out", str(tmp_path / "out"), "--engine", "ray"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and 'pip install "edu_nn[ray]"' in err, err
    assert not (tmp_path / "out").exists()                   # refused before any work
    assert cli.main(["tune", "--data", "xor", "--trials", "2", "--epochs", "1",
                     "--engine", "ray", "--out", str(tmp_path / "tune")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and 'pip install "edu_nn[ray]"' in err, err


def test_ray_is_imported_only_when_an_engine_starts():
    code = ("import sys, edu_nn, edu_nn.cli, edu_nn.grading.gradebook, "
            "edu_nn.grading.engines, edu_nn.grading.ray_engine, edu_nn.train.tuner; "
            "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


def test_engine_options_are_checked(tmp_path):
    from edu_nn.grading.engines import make_engine
    from edu_nn.train.tuner import grid_search
    with pytest.raises(ValueError, match="unknown engine 'spark'.*local, ray"):
        make_engine("spark")
    with pytest.raises(ValueError, match="--address and --max-retries are options of "
                                         "--engine ray"):
        make_engine("local", address="auto")
    with pytest.raises(ValueError, match="engine must be 'local'.*or 'ray'"):
        grid_search(lambda c, s: {"val_loss": 0.0}, {"lr": [0.1]}, engine="spark")
    with pytest.raises(ValueError, match="address= is the Ray cluster of engine='ray'"):
        grid_search(lambda c, s: {"val_loss": 0.0}, {"lr": [0.1]}, address="auto")
    # options that would be ignored or coerced are refused (before Ray is imported)
    for jobs in (0, -2):
        with pytest.raises(ValueError, match=f"-j/jobs must be a whole number >= 1.*{jobs}"):
            make_engine("local", jobs=jobs)
    with pytest.raises(ValueError, match="-j 4 has no effect with --address.*leave -j out"):
        make_engine("ray", jobs=4, address="auto")
    with pytest.raises(ValueError, match="n_jobs=2 has no effect with address=.*leave n_jobs"):
        grid_search(lambda c, s: {"val_loss": 0.0}, {"lr": [0.1]}, engine="ray",
                    address="auto", n_jobs=2)


def test_uploads_travel_as_archives_without_links(tmp_path):
    """What a worker unpacks is the upload's regular files (the grader follows no link);
    an archive with a path out of its folder is refused."""
    import io
    import tarfile

    from edu_nn.grading.ray_engine import pack_folder, unpack
    up = tmp_path / "up"
    (up / "src" / "deep").mkdir(parents=True)
    (up / "ops.py").write_text("x = 1\n")
    (up / "src" / "deep" / "notes.txt").write_bytes(b"\x00\x01 binary")
    (up / "empty").mkdir()
    (up / "link.py").symlink_to("/etc/passwd")
    (up / "src" / "dirlink").symlink_to(up / "src" / "deep")
    out = unpack(pack_folder(up), tmp_path / "out")
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    assert files == ["empty", "ops.py", "src", "src/deep", "src/deep/notes.txt"]
    assert (out / "src" / "deep" / "notes.txt").read_bytes() == b"\x00\x01 binary"
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as tar:
        info = tarfile.TarInfo("../escaped.py")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(tarfile.TarError):
        unpack(evil.getvalue(), tmp_path / "evil")
    assert not (tmp_path / "escaped.py").exists()


def test_a_worker_builds_its_own_jail_not_the_one_named_by_the_driver(monkeypatch, tmp_path):
    """`ray start` passes its environment to the workers; if that names the jail of a grading
    process (EDU_NN_JAIL), the workers must still build their own in their folder (else a
    killed worker leaves its call folders in that process's jail: seen under xdist)."""
    import tempfile

    from edu_nn.grading import ray_engine
    monkeypatch.setenv("EDU_NN_JAIL", str(tmp_path / "edu-nn-jail-of-the-driver"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(ray_engine, "_worker_dir", None)
    folder = ray_engine.worker_folder()
    assert folder.parent == tmp_path and folder.name.startswith(ray_engine.WORKER_PREFIX)
    assert "EDU_NN_JAIL" not in os.environ
    assert tempfile.gettempdir() == str(folder)
