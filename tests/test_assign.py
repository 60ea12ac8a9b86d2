"""``edu-nn assign`` and ``edu-nn check`` end to end, with the real grader (the format-only
parts are in tests/test_assign_format.py)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from edu_nn import cli
from edu_nn.grading.assign import ValidationError, assign
from edu_nn.grading.grader import grade_submission
from edu_nn.grading.results import validate_results

TOY = Path(__file__).parent / "fixtures" / "authoring" / "toy"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    out = tmp_path_factory.mktemp("assign")
    return assign(TOY, out / "toy", pypi=True, validate_in="current")


def test_assign_validates_the_toy(made):
    assert made.validated and made.zip.is_file()
    ag = made.autograder / "assignment"
    solution = grade_submission(made.solution, ag)
    assert validate_results(solution) == []
    assert solution["score"] == 10.0 and all(t["status"] == "passed" for t in solution["tests"])
    stubs = grade_submission(made.student, ag)
    assert validate_results(stubs) == []
    assert stubs["score"] == 0 and len(stubs["tests"]) == 4


def test_cli_assign_reports_validation(tmp_path, capsys):
    assert cli.main(["assign", str(TOY), str(tmp_path / "out"), "--pypi", "--validate-in", "current"]) == 0
    assert "validated: the solution scores full marks, the stubs score 0, no leaks" in \
        capsys.readouterr().out


def test_assign_fails_validation_when_the_solution_is_wrong(tmp_path):
    source = tmp_path / "toy"
    import shutil
    shutil.copytree(TOY, source)
    ops = source / "toy_ops.py"
    ops.write_text(ops.read_text().replace("grad_y = grad * x", "grad_y = grad * y"))
    with pytest.raises(ValidationError) as info:
        assign(source, tmp_path / "out", pypi=True, validate_in="current")
    problems = "\n".join(info.value.problems)
    assert "the reference solution fails test_mul_backward (0.0/4.0)" in problems
    assert "mul_backward: result 1" in problems
    assert not (tmp_path / "out" / "autograder.zip").exists()


def test_check_in_the_student_folder_reports_points(made, capsys, monkeypatch):
    monkeypatch.chdir(made.student)
    assert cli.main(["check", "--color", "never"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  test_mul_backward   0 / 4 points" in out
    assert "mul_backward raised NotImplementedError: mul_backward" in out
    assert "0 of 2 public tests passed, 0 / 6 points" in out
    assert "test_relu_backward_hidden" not in out and "broadcast_shapes" not in out
    monkeypatch.chdir(made.solution)
    assert cli.main(["check", "--color", "never"]) == 0
    assert "2 of 2 public tests passed, 6 / 6 points" in capsys.readouterr().out


def test_run_autograder_flow_writes_valid_results(made, tmp_path):
    """What run_autograder does: collect the upload, then edu-nn grade --out."""
    upload = tmp_path / "upload" / "nested"
    upload.mkdir(parents=True)
    (upload / "toy_ops.py").write_bytes((made.solution / "toy_ops.py").read_bytes())
    (upload / "conftest.py").write_text("raise SystemExit\n")
    from edu_nn.grading.assign import collect_submission
    work = tmp_path / "work"
    assert collect_submission(tmp_path / "upload", work, made.autograder / "assignment") == []
    out = tmp_path / "results" / "results.json"
    assert cli.main(["grade", str(work), "--assignment", str(made.autograder / "assignment"),
                     "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert validate_results(results) == [] and results["score"] == 10.0
    assert sorted(os.listdir(work)) == ["toy_ops.py"]
