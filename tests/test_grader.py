"""The grading engine: @graded tests run against submissions in sandboxed children.

Fixtures: tests/fixtures/authoring/toy (the canonical example: markers, manifest overrides,
a hidden test) and tests/fixtures/grading/adv (a matmul; one hidden test goes through a
trusted driver and takes its reference from edu_nn's autograd on the grader's backend).
Expected scores are the manifest's and decorators' points, read off the fixtures.
"""
from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest

from edu_nn import cli
from edu_nn.grading import graded
from edu_nn.grading.graded import GRADED_ATTR, Submission, TestFailure
from edu_nn.grading.grader import grade_submission
from edu_nn.grading.markers import transform
from edu_nn.grading.results import validate_results
from edu_nn.grading.sandbox import SandboxConfig

FIXTURES = Path(__file__).parent / "fixtures"
TOY = FIXTURES / "authoring" / "toy"
ADV = FIXTURES / "grading" / "adv"
# the toy's points: test_mul_backward 4 (manifest), test_relu_backward 2,
# test_mul_backward_broadcast_shapes 2, test_relu_backward_hidden 2
TOY_POINTS = {"test_mul_backward": 4.0, "test_relu_backward": 2.0,
              "test_mul_backward_broadcast_shapes": 2.0, "test_relu_backward_hidden": 2.0}


def submit(tmp_path: Path, files: dict[str, str], name: str = "sub") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for rel, text in files.items():
        (folder / rel).write_text(textwrap.dedent(text))
    return folder


def by_name(results: dict) -> dict[str, dict]:
    return {t["name"]: t for t in results["tests"]}


def toy_solution() -> str:
    return transform((TOY / "toy_ops.py").read_text(), "toy_ops.py").solution


# ------------------------------------------------------------------ scoring
def test_reference_solution_scores_full_marks_and_results_validate(tmp_path):
    sub = submit(tmp_path, {"toy_ops.py": toy_solution()})
    results = grade_submission(sub, TOY)
    assert validate_results(results) == []
    assert {t["name"]: t["score"] for t in results["tests"]} == TOY_POINTS
    assert results["score"] == sum(TOY_POINTS.values())
    tests = by_name(results)
    assert tests["test_relu_backward_hidden"]["visibility"] == "after_due_date"
    assert [t["number"] for t in results["tests"]] == ["1", "2", "3", "4"]
    extra = tests["test_mul_backward"]["extra_data"]
    assert extra["max_error"] == 0.0 and extra["tolerance"] == {"rtol": 1e-10, "atol": 1e-9}
    assert extra["reference"] == "numpy" and extra["dtype"] == ["float64"]
    assert len(extra["submission_sha256"]) == 64 and isinstance(extra["seed"], int)
    assert isinstance(results["execution_time"], float)
    # public tests only, as edu-nn check runs them
    public = grade_submission(sub, TOY, include_hidden=False)
    assert [t["name"] for t in public["tests"]] == ["test_mul_backward", "test_relu_backward"]


def test_stubs_score_zero_with_the_students_traceback(tmp_path):
    student = transform((TOY / "toy_ops.py").read_text(), "toy_ops.py").student
    results = grade_submission(submit(tmp_path, {"toy_ops.py": student}), TOY)
    assert validate_results(results) == []
    assert results["score"] == 0 and all(t["status"] == "failed" for t in results["tests"])
    out = by_name(results)["test_mul_backward"]["output"]
    assert "mul_backward raised NotImplementedError: mul_backward" in out
    assert 'File "toy_ops.py", line' in out and "edu_nn" not in out  # only the student's lines
    assert "returned ellipsis, expected a numpy.ndarray" in \
        by_name(results)["test_relu_backward"]["output"]


def test_wrong_answer_fails_with_worst_index_and_hint(tmp_path):
    wrong = toy_solution().replace("grad_x = grad * y", "grad_x = 2 * grad * y")
    results = grade_submission(submit(tmp_path, {"toy_ops.py": wrong}), TOY)
    tests = by_name(results)
    assert tests["test_mul_backward"]["score"] == 0 and tests["test_relu_backward"]["score"] == 2
    out = tests["test_mul_backward"]["output"]
    assert out.startswith("mul_backward: result 0: 12 of 12 elements differ; worst at index (")
    assert "expected " in out and ", got " in out and "tolerance 1e-09 + 1e-10 * |expected|" in out
    assert "factor of 2" in out
    # the recorded error is the real one: max |2 g y - g y| = max |g y|
    extra = tests["test_mul_backward"]["extra_data"]
    rng = np.random.default_rng(extra["seed"])
    x, y, g = (rng.standard_normal((3, 4)) for _ in range(3))
    assert extra["max_error"] == pytest.approx(np.max(np.abs(g * y)), rel=1e-12)
    assert validate_results(results) == []


def test_syntax_error_and_missing_file_are_clear_zero_scores(tmp_path):
    broken = submit(tmp_path, {"toy_ops.py": "import numpy as np\ndef mul_backward(x, y, g)\n"
                                             "    return g\n"}, "broken")
    results = grade_submission(broken, TOY)
    assert validate_results(results) == [] and results["score"] == 0
    assert "toy_ops.py:2: syntax error" in results["output"]
    assert all("not run: the submission cannot be graded" in t["output"]
               for t in results["tests"])
    assert [t["max_score"] for t in results["tests"]] == list(TOY_POINTS.values())
    empty = submit(tmp_path, {"other.py": "x = 1\n"}, "empty")
    results = grade_submission(empty, TOY)
    assert "toy_ops.py is missing: submit it under exactly this name" in results["output"]
    assert results["score"] == 0 and validate_results(results) == []
    results = grade_submission(tmp_path / "nowhere", TOY)
    assert "does not exist" in results["output"] and validate_results(results) == []


def test_a_crashing_test_is_zero_points_and_the_others_still_run(tmp_path):
    assignment = tmp_path / "assignment"
    shutil.copytree(ADV, assignment)
    (assignment / "tests" / "public_crash.py").write_text(textwrap.dedent('''
        from edu_nn.grading import graded

        @graded(points=1)
        def test_broken(sub, rng):
            got = sub.call("ops.py", "linear_forward", rng.standard_normal((2, 2)),
                           rng.standard_normal((2, 2)))
            return got["no such key"]          # the test author's bug

        @graded(points=1)
        def test_partial(sub, rng):
            sub.partial(0.5, "half of the cases")
    '''))
    results = grade_submission(ADV, assignment)
    tests = by_name(results)
    assert tests["test_broken"]["score"] == 0
    assert "error while checking the result: IndexError" in tests["test_broken"]["output"]
    assert tests["test_partial"]["score"] == 0.5 and tests["test_partial"]["status"] == "failed"
    assert tests["test_matmul_backward"]["score"] == 3     # manifest 3 wins over decorator 2
    assert validate_results(results) == []


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_references_on_torch_and_jax_give_the_same_scores(tmp_path, backend):
    pytest.importorskip(backend)
    wrong = (ADV / "ops.py").read_text().replace("grad_W = x.T @ grad", "grad_W = grad.T @ x")
    for files, expected in (({"ops.py": (ADV / "ops.py").read_text()}, 7.0),
                            ({"ops.py": wrong}, 2.0)):
        sub = submit(tmp_path, files, f"{backend}{expected:g}")
        on_numpy = grade_submission(sub, ADV)
        on_backend = grade_submission(sub, ADV, backend=backend)
        assert on_numpy["score"] == on_backend["score"] == expected
        hidden = by_name(on_backend)["test_backward_through_driver"]
        assert hidden["extra_data"]["reference"] == backend
        assert validate_results(on_backend) == []


def test_printed_output_is_captured_and_truncated(tmp_path):
    chatty = (ADV / "ops.py").read_text() + "\nprint('hello from ops ' * 1000)\n"
    results = grade_submission(submit(tmp_path, {"ops.py": chatty}), ADV,
                               include_hidden=False)
    out = by_name(results)["test_linear_forward"]["output"]
    assert results["score"] == 5.0
    assert "linear_forward printed:\nhello from ops" in out and "(output truncated)" in out
    assert len(out) < 5000


def test_seeds_are_per_test_and_repeatable(tmp_path):
    sub = submit(tmp_path, {"toy_ops.py": toy_solution()})
    first = [t["extra_data"]["seed"] for t in grade_submission(sub, TOY)["tests"]]
    again = [t["extra_data"]["seed"] for t in grade_submission(sub, TOY)["tests"]]
    assert first == again and len(set(first)) == 4


# ------------------------------------------------------------ check_close
def plain_sub() -> Submission:
    return Submission(SandboxConfig(files={}, drivers={}))


@pytest.mark.parametrize("got, expected, message", [
    ((np.ones(3),), [np.ones(3), np.ones(3)], "returned 1 values, expected 2"),
    (np.ones(3), [np.ones(3)], "returned an array of shape (3,), expected a tuple of 1"),
    (np.ones((3, 2)), np.ones((2, 3)), "shape (3, 2), expected (2, 3) (transposed"),
    (np.ones((4, 3)), np.ones(3), "a broadcast axis not summed back"),
    (np.ones(3, np.float32), np.ones(3), "dtype float32, expected float64"),
    (np.array([1.0, np.nan, 1.0]), np.ones(3), "1 of 3 elements are NaN or inf (first at "
                                                "index (1,))"),
    ([1.0, 1.0], np.ones(2), "returned a list of 2, expected a numpy.ndarray"),
    (np.array([1.0, 1.0 + 1e-6]), np.ones(2), "1 of 2 elements differ; worst at index (1,)"),
])
def test_check_close_failures_name_the_problem(got, expected, message):
    with pytest.raises(TestFailure) as info:
        plain_sub().check_close(got, expected, name="op")
    assert message in str(info.value), str(info.value)


def test_check_close_passes_within_tolerance_and_scalars():
    sub = plain_sub()
    sub.check_close([np.ones(2) + 1e-12], [np.ones(2)], name="op")
    sub.check_close(2.0, np.float64(2.0), name="loss")
    sub.check_close(np.array([1, 2]), np.array([1, 2], dtype=np.int64), name="labels")
    assert [c.passed for c in sub.checks] == [True, True, True]
    with pytest.raises(TestFailure, match="needs to be positive"):
        sub.check(False, "needs to be positive")
    sub.check(np.bool_(True), "fine")


def test_graded_decorator_records_and_checks_its_arguments():
    @graded(points=3, visibility="hidden", timeout=5)
    def test_x(sub, rng):
        pass
    info = getattr(test_x, GRADED_ATTR)
    assert (info.points, info.visibility, info.timeout) == (3, "hidden", 5)
    with pytest.raises(ValueError, match="visibility must be one of"):
        graded(visibility="secret")
    with pytest.raises(ValueError, match="points must be a number >= 0"):
        graded(points=-1)


# -------------------------------------------------------------- validator
def test_results_validator_catches_what_gradescope_rejects():
    good = {"score": 1.0, "execution_time": 0.5, "output": "", "tests": [
        {"name": "a", "score": 1.0, "max_score": 1.0, "status": "passed",
         "visibility": "visible"}]}
    assert validate_results(good) == []
    bad = json.loads(json.dumps(good))
    bad["execution_time"] = "0.5"
    bad["tests"][0].update(status="ok", visibility="secret", score=2.0, bonus=1)
    problems = "\n".join(validate_results(bad))
    for text in ("execution_time must be a number", "status must be 'passed' or 'failed'",
                 "visibility must be one of", "unknown key 'bonus'", "exceeds max_score"):
        assert text in problems
    assert validate_results({"score": float("nan")})
    assert validate_results([]) == ["results must be a JSON object, got list"]


# -------------------------------------------------------------------- CLI
def test_cli_grade_always_writes_results(tmp_path, capsys):
    sub = submit(tmp_path, {"toy_ops.py": toy_solution()})
    out = tmp_path / "results.json"
    assert cli.main(["grade", str(sub), "--assignment", str(TOY), "--out", str(out)]) == 0
    assert "10 / 10 points, 4 of 4 tests passed" in capsys.readouterr().out
    assert validate_results(json.loads(out.read_text())) == []
    # an assignment that cannot be loaded still gives a results.json
    out2 = tmp_path / "r2.json"
    cli.main(["grade", str(sub), "--assignment", str(tmp_path), "--out", str(out2)])
    results = json.loads(out2.read_text())
    assert results["score"] == 0 and "could not be loaded" in results["output"]
    assert validate_results(results) == []
