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


def test_check_k_runs_the_selected_public_tests(made, capsys, monkeypatch):
    monkeypatch.chdir(made.solution)
    assert cli.main(["check", "--color", "never", "-k", "relu"]) == 0
    out = capsys.readouterr().out
    assert "PASS  test_relu_backward" in out and "test_mul_backward" not in out
    assert "1 of 1 public tests passed, 2 / 2 points" in out
    monkeypatch.chdir(made.student)
    assert cli.main(["check", "--color", "never", "-k", "mul"]) == 1
    assert "0 of 1 public tests passed, 0 / 4 points" in capsys.readouterr().out
    assert cli.main(["check", "-k", "softmax"]) == 2
    err = capsys.readouterr().err
    assert "no public test name contains 'softmax'" in err
    assert "test_mul_backward, test_relu_backward" in err


def test_grading_commands_have_the_unsandboxed_flag():
    parser = cli.build_parser()
    for command in (["grade", "s", "--assignment", "a"], ["grade-all", "f", "--assignment", "a",
                                                         "--out", "o"]):
        assert parser.parse_args(command).unsandboxed is False
        assert parser.parse_args(command + ["--unsandboxed"]).unsandboxed is True
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in ("grade", "grade-all"):
        helps = {a.dest: a.help for a in sub.choices[name]._actions}
        assert "not root" in helps["unsandboxed"] and "never on a shared grading machine" \
            in helps["unsandboxed"]


def test_assign_validates_in_the_environment_setup_sh_builds(tmp_path):
    """A hidden test that imports a package the instructor has but the manifest does not
    require passes in-process validation and fails in the setup.sh environment, as it would
    on Gradescope; declaring it in requires pins it and validation passes."""
    import shutil
    import importlib.metadata
    pytest.importorskip("yaml")
    source = tmp_path / "toy"
    shutil.copytree(TOY, source)
    hidden = source / "tests" / "hidden_relu.py"
    hidden.write_text("import yaml  # only the instructor's environment has it\n"
                      + hidden.read_text())
    assign(source, tmp_path / "draft", validate_in="current")        # passes here
    with pytest.raises(ValidationError) as info:
        assign(source, tmp_path / "out")
    problems = "\n".join(info.value.problems)
    assert "grading the reference solution ran no test" in problems
    assert "No module named 'yaml'" in problems
    assert not (tmp_path / "out").exists()
    manifest = source / "assignment.toml"
    manifest.write_text(manifest.read_text().replace("files = ", 'requires = ["PyYAML"]\n'
                                                                 "files = ", 1))
    result = assign(source, tmp_path / "out")
    assert result.validated and result.zip.is_file()
    assert f"PyYAML=={importlib.metadata.version('PyYAML')}" in \
        (result.autograder / "requirements.txt").read_text()
    assert sorted(os.listdir(tmp_path / "out")) == [".edu-nn-assign", "autograder",
                                                    "autograder.zip", "solution", "student"]


def test_grade_unsandboxed_flag_grades(made, tmp_path):
    out = tmp_path / "results.json"
    assert cli.main(["grade", str(made.solution), "--assignment",
                     str(made.autograder / "assignment"), "--out", str(out),
                     "--unsandboxed"]) == 0
    results = json.loads(out.read_text())
    assert validate_results(results) == [] and results["score"] == 10.0
