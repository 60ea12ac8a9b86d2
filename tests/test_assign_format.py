"""The manifest, and the parts of ``edu-nn assign`` that need no grader: the layout of the
generated folders, what students get and never get, the leak scan, the Gradescope scripts,
and collecting a submission out of an upload. (Grading itself: tests/test_assign.py.)
"""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from edu_nn import cli
from edu_nn.grading import assign as assign_mod
from edu_nn.grading.assign import AssignError, ValidationError, assign, collect_submission
from edu_nn.grading.manifest import ManifestError, load_manifest, parse_manifest

TOY = Path(__file__).parent / "fixtures" / "authoring" / "toy"

MANIFEST = textwrap.dedent('''
    name = "hw"
    files = ["ops.py"]

    [[tests]]
    name = "test_a"
    points = 5
    visibility = "hidden"
''').lstrip()


# ------------------------------------------------------------------- manifest
def test_manifest_parses_with_defaults_and_round_trips():
    m = parse_manifest(MANIFEST)
    assert (m.name, m.title, m.files, m.default_timeout, m.memory_mb) == \
        ("hw", "hw", ["ops.py"], 10.0, 1024)
    assert m.test("test_a").points == 5 and m.test("test_a").line == 4
    assert m.test("nope") is None
    again = parse_manifest(m.to_toml())
    assert (again.name, again.files, again.tests[0].visibility) == ("hw", ["ops.py"], "hidden")


@pytest.mark.parametrize("change, line, message", [
    (('"hidden"', '"secret"'), 7, "visibility must be one of visible, hidden, after_due_date"),
    (("points = 5", "points = -1"), 6, "points must be a number >= 0"),
    (("points = 5", "points = true"), 6, "points must be a number"),
    (("points = 5", "timout = 3"), 6, "unknown key 'timout' (did you mean 'timeout'?)"),
    (('files = ["ops.py"]', 'files = ["../ops.py"]'), 2, "no '..'"),
    (('files = ["ops.py"]', 'files = ["tests/public_a.py"]'), 2, "assignment machinery"),
    (('files = ["ops.py"]', 'files = ["ops.py", "ops.py"]'), 2, "lists a name twice"),
    (('files = ["ops.py"]', 'files = []'), 2, "non-empty list"),
    (('name = "hw"', 'name = "hw 1"'), 1, "letters, digits"),
    (('name = "hw"', 'nmae = "hw"'), 1, "unknown key 'nmae' (did you mean 'name'?)"),
    (('[[tests]]', 'default_timeout = 0\n[[tests]]'), 4, "default_timeout must be a positive"),
    (('[[tests]]', 'memory_mb = 1.5\n[[tests]]'), 4, "memory_mb must be a positive whole"),
    (('name = "test_a"', 'name = "test a"'), 5, "the test function's name"),
    (('points = 5', 'points = 5\n[[tests]]\nname = "test_a"'), 8, "two [[tests]] tables"),
    # tomllib reports where it gave up (the next table's line), not where the bracket opened.
    (('files = ["ops.py"]', 'files = ["ops.py"'), 4, "not valid TOML"),
])
def test_manifest_errors_name_the_line(change, line, message):
    with pytest.raises(ManifestError) as info:
        parse_manifest(MANIFEST.replace(*change), "hw/assignment.toml")
    assert str(info.value).startswith(f"hw/assignment.toml:{line}: "), str(info.value)
    assert message in str(info.value)


def test_missing_manifest_and_missing_keys(tmp_path):
    with pytest.raises(ManifestError, match="no assignment.toml here"):
        load_manifest(tmp_path)
    with pytest.raises(ManifestError, match="missing 'files'"):
        parse_manifest('name = "x"\n')


# ------------------------------------------------------------ generated layout
@pytest.fixture(scope="module")
def draft(tmp_path_factory):
    """The toy assignment through assign --no-validate --pypi (no grader, no wheel)."""
    out = tmp_path_factory.mktemp("draft")
    result = assign(TOY, out, validate=False, pypi=True)
    return result


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_layout_of_student_solution_and_autograder(draft):
    shipped = {"README.md", "assignment.toml", "explore.py", "toy_ops.py", "tests/public_ops.py"}
    assert files_under(draft.student) == shipped
    assert files_under(draft.solution) == shipped
    assert files_under(draft.autograder) == {
        "setup.sh", "run_autograder", "assignment/assignment.toml", "assignment/README.md",
        "assignment/toy_ops.py", "assignment/explore.py", "assignment/tests/public_ops.py",
        "assignment/tests/hidden_relu.py"}
    for script in ("setup.sh", "run_autograder"):
        assert (draft.autograder / script).stat().st_mode & stat.S_IXUSR
    with zipfile.ZipFile(draft.zip) as z:
        names = set(z.namelist())
        assert names == files_under(draft.autograder)
        assert (z.getinfo("run_autograder").external_attr >> 16) & 0o777 == 0o755
        assert (z.getinfo("setup.sh").external_attr >> 16) & 0o777 == 0o755


def test_student_and_solution_versions(draft):
    student = (draft.student / "toy_ops.py").read_text()
    solution = (draft.solution / "toy_ops.py").read_text()
    assert 'raise NotImplementedError("mul_backward")' in student
    assert "        return ...\n" in student
    assert "grad_x = grad * y" not in student and "np.where(x > 0" not in student
    assert "grad_x = grad * y" in solution and "SOLUTION" not in solution
    assert solution == (draft.autograder / "assignment" / "toy_ops.py").read_text()
    # every other file is the same in student/ and solution/
    for rel in files_under(draft.student) - {"toy_ops.py"}:
        assert (draft.student / rel).read_bytes() == (draft.solution / rel).read_bytes(), rel


def test_hidden_tests_only_in_the_autograder(draft):
    public = (draft.student / "tests" / "public_ops.py").read_text()
    full = (draft.autograder / "assignment" / "tests" / "public_ops.py").read_text()
    assert "test_mul_backward_broadcast_shapes" not in public
    assert "def test_mul_backward_broadcast_shapes" in full and "HIDDEN" not in full
    assert {t.name: t.public for t in draft.tests} == {
        "test_mul_backward": True, "test_relu_backward": True,
        "test_mul_backward_broadcast_shapes": False, "test_relu_backward_hidden": False}
    # the student manifest keeps only the public tests' tables; the autograder's is the source's
    student = load_manifest(draft.student)
    assert [t.name for t in student.tests] == ["test_mul_backward"]
    assert (draft.autograder / "assignment" / "assignment.toml").read_text() == \
        (TOY / "assignment.toml").read_text()


def test_student_readme(draft):
    readme = (draft.student / "README.md").read_text()
    assert readme.startswith("# Toy assignment: two backward passes\n")  # the instructor's
    assert "edu-nn check" in readme
    assert "`toy_ops.py`: `mul_backward`, `ReLU.backward`" in readme
    assert "| `test_mul_backward` | 4 |" in readme          # the manifest's points win
    assert "| `test_relu_backward` | 2 |" in readme
    assert "hidden tests worth 4 points" in readme
    assert "Upload `toy_ops.py`" in readme


def test_gradescope_scripts(draft):
    setup = (draft.autograder / "setup.sh").read_text()
    run = (draft.autograder / "run_autograder").read_text()
    assert '"edu-nn==' in setup and "numpy" in setup and 'python3 -m venv --clear "$ROOT/venv"' \
        in setup
    assert "-r requirements.txt" not in setup      # the toy requires nothing
    assert "edu_nn grade" in run and "--out \"$RESULTS\"" in run
    for script in (setup, run):     # the root comes from AUTOGRADER_ROOT, /autograder by default
        assert 'ROOT="${AUTOGRADER_ROOT:-/autograder}"' in script
        assert "/autograder/" not in script.replace("${AUTOGRADER_ROOT:-/autograder}", "") \
            .split("set -")[1]       # below the header comment, only through $ROOT
    assert '"$ROOT/submission"' in run and 'ASSIGNMENT="$ROOT/source/assignment"' in run
    assert 'lock_down "$ROOT/source" "$RESULTS_DIR" "$ROOT/submission"' in run
    assert run.index("lock_down \"$ROOT/source\"") < run.index("edu_nn grade")
    for script in (setup, run):
        subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    # a results.json even when the grader cannot start
    assert '"score": 0.0' in run and "[ ! -s \"$RESULTS\" ]" in run


def test_requires_are_pinned_into_requirements_txt(tmp_path):
    source = copy_toy(tmp_path)
    manifest = source / "assignment.toml"
    manifest.write_text(manifest.read_text().replace(
        'files = ', 'requires = ["NumPy", "pytest"]\nfiles = ', 1))
    result = assign(source, tmp_path / "out", validate=False, pypi=True)
    pins = [line for line in (result.autograder / "requirements.txt").read_text().splitlines()
            if not line.startswith("#")]
    import importlib.metadata
    assert pins == [f"NumPy=={importlib.metadata.version('numpy')}",
                    f"pytest=={importlib.metadata.version('pytest')}"]
    assert '"$PY" -m pip install -r requirements.txt' in (result.autograder / "setup.sh") \
        .read_text()
    with zipfile.ZipFile(result.zip) as z:
        assert "requirements.txt" in z.namelist()


def test_unknown_requirement_is_a_clear_error_and_writes_nothing(tmp_path):
    source = copy_toy(tmp_path)
    manifest = source / "assignment.toml"
    manifest.write_text(manifest.read_text().replace(
        'files = ', 'requires = ["no-such-package-edu-nn"]\nfiles = ', 1))
    with pytest.raises(AssignError, match=r"requires lists 'no-such-package-edu-nn', which is "
                                          r"not installed in this environment .*pip install "
                                          r"no-such-package-edu-nn"):
        assign(source, tmp_path / "out", validate=False, pypi=True)
    assert not (tmp_path / "out").exists() and os.listdir(tmp_path) == ["toy"]
    manifest.write_text(manifest.read_text().replace('"no-such-package-edu-nn"',
                                                     '"scikit-learn>=1.3"'))
    with pytest.raises(AssignError, match="without versions"):
        assign(source, tmp_path / "out", validate=False, pypi=True)


def test_failed_validation_writes_nothing_to_out_and_names_the_staging_folder(tmp_path):
    out = tmp_path / "out"
    assign(TOY, out, validate=False, pypi=True)            # an earlier, good run
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    source = copy_toy(tmp_path / "src")
    ops = source / "toy_ops.py"
    ops.write_text(ops.read_text().replace("grad_y = grad * x", "grad_y = grad * y"))
    with pytest.raises(ValidationError) as info:
        assign(source, out, pypi=True, validate_in="current")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    staging = [p for p in tmp_path.iterdir() if p.name.startswith(".out.staging-")]
    assert len(staging) == 1 and str(staging[0]) in str(info.value)
    assert (staging[0] / "solution" / "toy_ops.py").is_file()


def test_built_wheel_installs_and_imports_without_setuptools(tmp_path):
    """The wheel is written directly (no wheel package, no setuptools>=68, no network)."""
    from edu_nn.grading.assign import build_wheel
    wheel = build_wheel(tmp_path / "dist")
    assert wheel.name == "edu_nn-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        record = z.read("edu_nn-0.1.0.dist-info/RECORD").decode()
        assert "edu_nn/backends/numpy_backend.py" in names      # from backends/ (package-dir)
        assert "edu_nn/grading/assign.py" in names and "edu_nn/nn/modules/__init__.py" in names
        assert "edu-nn = edu_nn.cli:main" in z.read("edu_nn-0.1.0.dist-info/entry_points.txt")\
            .decode()
        import base64
        import hashlib
        for line in record.splitlines():      # every hash in RECORD is the file's
            path, digest, size = line.rsplit(",", 2)
            if digest:
                data = z.read(path)
                assert digest == "sha256=" + base64.urlsafe_b64encode(
                    hashlib.sha256(data).digest()).rstrip(b"=").decode() and int(size) == len(data)
    assert build_wheel(tmp_path / "again").read_bytes() == wheel.read_bytes()   # reproducible
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--target", str(target), str(wheel)], check=True)
    done = subprocess.run([sys.executable, "-c", "import edu_nn, edu_nn.grading.assign; "
                           "print(edu_nn.__file__); print(edu_nn.tensor([1.0, 2.0]).sum())"],
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(target)},
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(str(target))


def test_run_autograder_writes_results_when_the_grader_cannot_start(tmp_path, draft):
    """No venv (setup.sh never ran): run_autograder still leaves a valid results.json, and
    locks the source and results folders down first."""
    root = tmp_path / "autograder"
    shutil.copytree(draft.autograder, root / "source")
    (root / "submission").mkdir()
    (root / "submission" / "toy_ops.py").write_text("x = 1\n")
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")],
                          env={"PATH": os.environ["PATH"], "AUTOGRADER_ROOT": str(root)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    import json
    from edu_nn.grading.results import validate_results
    results = json.loads((root / "results" / "results.json").read_text())
    assert validate_results(results) == [] and results["score"] == 0
    assert "failed before it could grade" in results["output"]
    for folder in ("source", "results", "submission"):
        assert stat.S_IMODE((root / folder).stat().st_mode) == 0o700, folder


def test_wheel_is_built_without_setuptools_or_wheel(tmp_path):
    """The README's plain venv may lack the wheel package and setuptools>=68: neither is
    imported (nor pip run) to build the bundled wheel."""
    code = ("import sys\n"
            "for name in ('setuptools', 'wheel', 'pip'):\n"
            "    sys.modules[name] = None\n"
            "import subprocess\n"
            "subprocess.run = subprocess.Popen = None   # no pip wheel either\n"
            "from edu_nn.grading.assign import build_wheel\n"
            f"print(build_wheel({str(tmp_path)!r}).name)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "edu_nn-0.1.0-py3-none-any.whl"


def test_bundled_wheel_is_copied(tmp_path):
    wheel = tmp_path / "edu_nn-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"not really a wheel")
    result = assign(TOY, tmp_path / "out", validate=False, wheel=wheel)
    assert (result.autograder / "dist" / wheel.name).read_bytes() == b"not really a wheel"
    assert f"dist/{wheel.name}" in (result.autograder / "setup.sh").read_text()
    with zipfile.ZipFile(result.zip) as z:
        assert f"dist/{wheel.name}" in z.namelist()


def test_rerun_replaces_and_foreign_out_is_refused(tmp_path, draft):
    out = tmp_path / "out"
    assign(TOY, out, validate=False, pypi=True)
    (out / "student" / "stale.txt").write_text("old")
    assign(TOY, out, validate=False, pypi=True)
    assert not (out / "student" / "stale.txt").exists()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(AssignError, match="not empty and was not written by edu-nn assign"):
        assign(TOY, foreign, validate=False, pypi=True)
    assert (foreign / "notes.txt").read_text() == "mine"


def copy_toy(tmp_path: Path) -> Path:
    source = tmp_path / "toy"
    shutil.copytree(TOY, source)
    return source


def test_source_errors(tmp_path):
    source = copy_toy(tmp_path)
    with pytest.raises(AssignError, match="must not be inside SOURCE"):
        assign(source, source / "out", validate=False, pypi=True)
    (source / "toy_ops.py").write_text("def f():\n    # BEGIN SOLUTION\n    return 1\n")
    with pytest.raises(AssignError, match=r"toy_ops\.py:2: '# BEGIN SOLUTION' is never closed"):
        assign(source, tmp_path / "out", validate=False, pypi=True)
    (source / "toy_ops.py").unlink()
    with pytest.raises(AssignError, match="files lists toy_ops.py, which is not in"):
        assign(source, tmp_path / "out", validate=False, pypi=True)


def test_unknown_and_duplicate_test_names(tmp_path):
    source = copy_toy(tmp_path)
    manifest = source / "assignment.toml"
    manifest.write_text(manifest.read_text().replace('"test_relu_backward_hidden"',
                                                     '"test_relu_backwards_hidden"'))
    # line 11: the header of the [[tests]] table that names the unknown test
    with pytest.raises(AssignError, match=r"assignment.toml:11: \[\[tests\]\] names "
                                          r"'test_relu_backwards_hidden', but no @graded"):
        assign(source, tmp_path / "out", validate=False, pypi=True)
    source = copy_toy(tmp_path / "again")
    hidden = source / "tests" / "hidden_relu.py"
    hidden.write_text(hidden.read_text().replace("test_relu_backward_hidden",
                                                 "test_relu_backward"))
    with pytest.raises(AssignError, match="two graded tests have the same name"):
        assign(source, tmp_path / "out", validate=False, pypi=True)


# ----------------------------------------------------------------- leak scan
@pytest.fixture
def full_marks_for_solution(monkeypatch):
    """A stand-in grader for the leak-scan tests: the solution folder scores full marks, any
    other folder scores 0 (real grading: tests/test_assign.py)."""
    def fake(submission, assignment, *, include_hidden=True, backend="numpy", unsandboxed=False,
             select=None):
        full = Path(submission).name == "solution"
        return {"score": 0, "tests": [{"name": "t", "score": 1.0 if full else 0.0,
                                       "max_score": 1.0, "status": "passed"}]}
    monkeypatch.setattr(assign_mod, "grade", fake)


def validation_problems(source: Path, out: Path) -> list[str]:
    with pytest.raises(ValidationError) as info:
        assign(source, out, pypi=True, validate_in="current")
    assert not (out / "autograder.zip").exists()   # never a zip from a failed validation
    return info.value.problems


def test_clean_toy_passes_the_scan(tmp_path, full_marks_for_solution):
    result = assign(TOY, tmp_path / "out", pypi=True, validate_in="current")
    assert result.validated and result.zip.is_file()


def test_scan_catches_a_solution_line_in_a_docstring(tmp_path, full_marks_for_solution):
    source = copy_toy(tmp_path)
    ops = source / "toy_ops.py"
    ops.write_text(ops.read_text().replace('    """Gradients of out = x * y.\n',
                                           '    """Gradients of out = x * y.\n\n'
                                           '    Hint: grad_x  =  grad * y\n'))
    problems = validation_problems(source, tmp_path / "out")
    assert len(problems) == 1, problems
    assert problems[0].startswith("student/toy_ops.py:") and \
        "shows the solution line toy_ops.py:16: 'grad_x = grad * y'" in problems[0]


def test_scan_catches_markers_and_hidden_names(tmp_path, full_marks_for_solution):
    source = copy_toy(tmp_path)
    (source / "notes.md").write_text("Do not peek at hidden_relu.py.\n"
                                     "# BEGIN SOLUTION (typo: not processed in .md files)\n")
    public = source / "tests" / "public_ops.py"
    public.write_text(public.read_text() + "\n# see test_relu_backward_hidden\n")
    problems = "\n".join(validation_problems(source, tmp_path / "out"))
    assert "student/notes.md:1: names the hidden file name tests/hidden_relu.py" in problems
    assert "student/notes.md:2: marker text in a student file" in problems
    assert "names the hidden test name (tests/hidden_relu.py:8): " \
           "'test_relu_backward_hidden'" in problems


def test_scan_catches_hidden_test_lines_and_unmarked_files(tmp_path, full_marks_for_solution):
    source = copy_toy(tmp_path)
    (source / "explore.py").write_text(
        (source / "explore.py").read_text()
        + "\n# %%\nx = np.zeros((6, 2, 3)); x.flat[::4] = 0.0\n")
    (source / "toy_ops.py").write_text("def mul_backward(x, y, grad):\n"
                                       "    return grad * y, grad * x\n")
    problems = "\n".join(validation_problems(source, tmp_path / "out"))
    assert "toy_ops.py is a submission file without any solution marker" in problems
    assert "shows the hidden file line tests/hidden_relu.py:10: 'x.flat[::4] = 0.0" in problems


def test_validation_reports_grading_failures(tmp_path, monkeypatch):
    def fake(submission, assignment, *, include_hidden=True, backend="numpy", unsandboxed=False,
             select=None):
        return {"score": 1, "tests": [
            {"name": "test_mul_backward", "score": 1.0, "max_score": 4.0, "status": "failed",
             "output": "mul_backward: argument 0 differs"},
            {"name": "test_free", "score": 2.0, "max_score": 2.0, "status": "passed"}]}
    monkeypatch.setattr(assign_mod, "grade", fake)
    problems = validation_problems(TOY, tmp_path / "out")
    assert problems == [
        "the reference solution fails test_mul_backward (1.0/4.0): mul_backward: argument 0 "
        "differs",
        "the unmodified student version scores 1.0/4.0 on test_mul_backward: a graded test "
        "must fail on the stubs (does it test code the student writes?)",
        "the unmodified student version scores 2.0/2.0 on test_free: a graded test must fail "
        "on the stubs (does it test code the student writes?)"]


# ------------------------------------------------------------- the upload
def test_collect_submission_from_nested_upload(tmp_path, draft):
    upload = tmp_path / "upload"
    (upload / "my-hw" / "old").mkdir(parents=True)
    (upload / "my-hw" / "toy_ops.py").write_text("good = 1\n")
    (upload / "my-hw" / "old" / "toy_ops.py").write_text("old = 1\n")
    (upload / "conftest.py").write_text("import os\n")
    dest = tmp_path / "dest"
    assert collect_submission(upload, dest, draft.autograder / "assignment") == []
    assert files_under(dest) == {"toy_ops.py"}
    assert (dest / "toy_ops.py").read_text() == "good = 1\n"   # the shallowest copy


def test_collect_submission_skips_links_and_reports_missing(tmp_path, draft):
    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / "toy_ops.py").symlink_to(draft.autograder / "assignment" / "toy_ops.py")
    dest = tmp_path / "dest"
    assert collect_submission(upload, dest, draft.autograder / "assignment") == ["toy_ops.py"]
    assert files_under(dest) == set()
    # and through the command run_autograder uses
    done = subprocess.run(["python", "-m", "edu_nn.grading.assign", "collect", str(upload),
                           str(dest), str(draft.autograder / "assignment")],
                          capture_output=True, text=True)
    assert done.returncode == 0 and "not in the submission: toy_ops.py" in done.stderr


# ------------------------------------------------------------------ the CLI
def test_cli_assign_draft_and_errors(tmp_path, capsys):
    assert cli.main(["assign", str(TOY), str(tmp_path / "out"), "--no-validate", "--pypi"]) == 0
    out = capsys.readouterr().out
    assert "4 tests (2 public, 2 hidden); NOT validated (--no-validate)" in out
    assert cli.main(["assign", str(tmp_path / "nowhere"), str(tmp_path / "o2")]) == 1
    assert "is not a folder" in capsys.readouterr().err
    assert cli.main(["info"]) == 0          # the other subcommands still work


def test_cli_check_outside_an_assignment(tmp_path, capsys):
    assert cli.main(["check", str(tmp_path)]) == 2
    assert "no assignment.toml in" in capsys.readouterr().err
