"""The three course assignments (assignments/hw1_autograd, hw2_mlp, hw3_cnn) are valid.

For each one, ``edu-nn assign`` must validate: the reference solution scores full marks on
every test (public and hidden), the generated student stubs score 0 on every graded test, and
no student file leaks a solution line, a marker or a hidden test. The results.json that the
validation grading produced (captured here, not recomputed) must follow Gradescope's format.
Each solution is also graded with the torch and jax backends (references computed by edu_nn
on those backends) and must keep full marks (about 50 s for hw2 and hw3 together).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from edu_nn.grading import assign as assign_mod
from edu_nn.grading.assign import assign
from edu_nn.grading.grader import grade_submission
from edu_nn.grading.results import validate_results

ASSIGNMENTS = Path(__file__).resolve().parents[1] / "assignments"
NAMES = ["hw1_autograd", "hw2_mlp", "hw3_cnn"]


def _full(results: dict) -> tuple[float, float]:
    return (sum(t["score"] for t in results["tests"]),
            sum(t["max_score"] for t in results["tests"]))


def _assign(name: str, out: Path, monkeypatch) -> tuple:
    graded_runs = []
    real_grade = assign_mod.grade

    def recording_grade(submission, assignment, **kwargs):
        results = real_grade(submission, assignment, **kwargs)
        graded_runs.append((Path(submission).name, results))
        return results

    monkeypatch.setattr(assign_mod, "grade", recording_grade)
    result = assign(ASSIGNMENTS / name, out, pypi=True, validate_in="current")  # raises ValidationError on failure
    return result, dict(graded_runs)


@pytest.mark.parametrize("name", NAMES)
def test_assignment_validates(name, tmp_path, monkeypatch):
    result, runs = _assign(name, tmp_path / name, monkeypatch)
    assert result.validated and result.zip is not None and result.zip.is_file()
    assert set(runs) == {"solution", "student"}, "validation grades both versions"

    solution, stubs = runs["solution"], runs["student"]
    for results in (solution, stubs):
        assert validate_results(results) == []
        assert isinstance(results["execution_time"], (int, float))
        for t in results["tests"]:
            assert {"name", "number", "score", "max_score", "status", "output",
                    "visibility", "extra_data"} <= set(t)

    score, total = _full(solution)
    assert score == total >= 100, f"{name}: the solution scores {score}/{total}"
    assert solution["score"] == total
    assert all(t["status"] == "passed" for t in solution["tests"])
    assert stubs["score"] == 0 and all(t["score"] == 0 for t in stubs["tests"]
                                       if t["max_score"] > 0)
    assert all("NotImplementedError" in t["output"] for t in stubs["tests"]), \
        "each stub fails by raising NotImplementedError, not by an error in the tests"

    # public and hidden tests: the hidden ones are in the autograder only
    public = [t for t in result.tests if t.public]
    hidden = [t for t in result.tests if not t.public]
    assert public and hidden
    assert {t.visibility for t in hidden} == {"after_due_date"}
    student_tests = "\n".join(p.read_text() for p in (result.student / "tests").glob("*.py"))
    assert all(f"def {t.name}(" not in student_tests for t in hidden)
    assert all(f"def {t.name}(" in student_tests for t in public)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_solution_full_marks_on_other_backends(backend, name, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} not installed")
    result = assign(ASSIGNMENTS / name, tmp_path / name, validate=False, pypi=True)
    results = grade_submission(result.solution, ASSIGNMENTS / name, backend=backend)
    assert validate_results(results) == []
    score, total = _full(results)
    failed = [(t["name"], t["output"][:300]) for t in results["tests"] if t["status"] != "passed"]
    assert score == total >= 100 and not failed, failed
    assert results["extra_data"]["backend"] == backend
    assert all(t["extra_data"]["reference"] == backend for t in results["tests"])


def test_hw1_hidden_tests_catch_what_public_tests_miss(tmp_path):
    """Two bugs that pass every public test of hw1 (ReLU'(0) = 1; softmax without subtracting
    the maximum) lose exactly the hidden tests that probe them."""
    result = assign(ASSIGNMENTS / "hw1_autograd", tmp_path / "hw1", validate=False, pypi=True)
    ops = result.solution / "backward_ops.py"
    text = ops.read_text()
    for right, wrong in (("np.where(x > 0, grad, 0.0)", "np.where(x >= 0, grad, 0.0)"),
                         ("shifted = x - x.max(axis=axis, keepdims=True)", "shifted = x")):
        assert right in text
        text = text.replace(right, wrong)
    ops.write_text(text)
    results = grade_submission(result.solution, ASSIGNMENTS / "hw1_autograd")
    assert validate_results(results) == []
    failed = {t["name"] for t in results["tests"] if t["status"] != "passed"}
    assert failed == {"test_unary_hidden_shapes_and_relu_zeros",
                      "test_softmax_large_logits_other_axes"}
    _, total = _full(results)
    assert results["score"] == total - 8
