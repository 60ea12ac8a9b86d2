"""Notebook assignments (hw4_notebook): authored as py:percent, handed out and graded as .ipynb.

One ``edu-nn assign`` (validated in this process) serves every test: the solution notebook
scores full marks on every graded test (on each backend), the stub notebook 0, the written
answers are pending manual points in a valid results.json and exported as HTML; the student's
exported .py is graded like the notebook; hostile notebooks (malformed JSON, a 1 GB cell,
magics and shell escapes, code hidden in outputs or metadata, a notebook that imports the
grader) score no more than the stubs; the inline check runs in a real kernel (nbclient); and
the Gradescope flow (setup.sh, run_autograder) grades the solution and the stub notebooks.
"""
from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from edu_nn import cli
from edu_nn.grading.grader import grade_submission
from edu_nn.grading.notebook import (MAX_NOTEBOOK_BYTES, NotebookError, module_source,
                                     neutralise_magics, read_cells)
from edu_nn.grading.results import validate_results

ASSIGNMENT = Path(__file__).resolve().parents[1] / "assignments" / "hw4_notebook"
NB = "hw4.ipynb"


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hw4") / "out"
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(["assign", str(ASSIGNMENT), str(out), "--validate-in", "current"]) == 0
    return out


def grade(out: Path, notebook: bytes | None = None, name: str = NB, backend: str = "numpy",
          tmp: Path | None = None) -> dict:
    folder = tmp / "submission"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    if notebook is not None:
        (folder / name).write_bytes(notebook)
    results = grade_submission(folder, out / "autograder" / "assignment", backend=backend,
                               unsandboxed=os.geteuid() != 0)
    assert validate_results(results) == [], validate_results(results)
    return results


def graded(results: dict) -> list[dict]:
    return [t for t in results["tests"] if not t["extra_data"].get("manual")]


def load(out: Path, folder: str) -> dict:
    return json.loads((out / folder / NB).read_text(encoding="utf-8"))


# ------------------------------------------------------------------ the handout
def test_student_notebook_is_clean(out):
    nb = load(out, "student")
    assert set(nb["metadata"]) == {"kernelspec", "language_info"}
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    text = "".join("".join(c["source"]) for c in nb["cells"])
    assert 'raise NotImplementedError("adam")' in text and 'grader.check("q3")' in text
    assert "BEGIN SOLUTION" not in text and "bias correction" in text   # the written question
    assert "m_hat = m / (1 - b1 ** t)" not in text and "(1 - b1**t) and" not in text
    meta = [c["metadata"] for c in nb["cells"] if c["metadata"]]
    assert {"written": "w1", "points": 10} in meta and {"question": "q1", "points": 20} in meta
    assert not (out / "student" / "tests" / "hidden_hw4.py").exists()
    assert "q3_adam_other_betas" not in (out / "student" / "tests" / "public_hw4.py").read_text()


def test_student_notebook_opens_in_jupyter(out):
    """JupyterLab opens a notebook through the Jupyter server's contents manager: it must load
    the student's file as a notebook with no validation message."""
    contents = pytest.importorskip("jupyter_server.services.contents.largefilemanager")
    manager = contents.LargeFileManager(root_dir=str(out / "student"))
    model = manager.get(NB)
    assert model["type"] == "notebook" and model["format"] == "json"
    assert not model.get("message"), model.get("message")
    assert len(model["content"]["cells"]) == len(load(out, "student")["cells"])


def test_ipynb_source_and_leaks_in_metadata_or_outputs(tmp_path):
    """An .ipynb source works too; its outputs and other metadata never reach students, and
    a solution line in metadata that is kept (tags) fails validation."""
    jupytext = pytest.importorskip("jupytext")
    source = tmp_path / "hw4"
    shutil.copytree(ASSIGNMENT, source)
    nb = jupytext.read(str(source / "hw4.py"))
    cell = next(c for c in nb.cells if c.cell_type == "code" and "def adam" in c.source)
    import nbformat
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                           text="m_hat = m / (1 - b1 ** t)\n")]
    cell.metadata["secret"] = "v_hat = v / (1 - b2 ** t)"
    cell.metadata["tags"] = ["v = b2 * v + (1 - b2) * grad ** 2"]
    (source / "hw4.py").unlink()
    jupytext.write(nb, str(source / NB))
    from edu_nn.grading.assign import ValidationError, assign
    with pytest.raises(ValidationError) as info:
        assign(source, tmp_path / "o", validate=True, validate_in="current")
    problems = info.value.problems
    assert len(problems) == 1 and "student/hw4.ipynb" in problems[0], problems
    assert "v = b2 * v + (1 - b2) * grad ** 2" in problems[0]


# -------------------------------------------------------------------- grading
def test_solution_full_marks_stubs_zero_written_pending(out, tmp_path):
    solution = grade(out, (out / "solution" / NB).read_bytes(), tmp=tmp_path)
    auto = graded(solution)
    assert len(auto) == 11 and all(t["score"] == t["max_score"] > 0 for t in auto), \
        [(t["name"], t["output"][:300]) for t in auto if t["status"] != "passed"]
    points = sum(t["max_score"] for t in solution["tests"])
    assert points >= 100 and solution["score"] == sum(t["max_score"] for t in auto) == 90
    manual = [t for t in solution["tests"] if t["extra_data"].get("manual")]
    assert [(t["name"], t["max_score"], t["score"]) for t in manual] == \
        [("w1 (written answer)", 10.0, 0.0), ("w2 (written answer)", 10.0, 0.0)]
    assert all(t["output"].startswith("manual:") for t in manual)
    assert "bias correction" in manual[0]["extra_data"]["answer"]

    stub = grade(out, (out / "student" / NB).read_bytes(), tmp=tmp_path)
    assert stub["score"] == 0 and all(t["score"] == 0 for t in stub["tests"])
    assert "NotImplementedError" in graded(stub)[0]["output"]


def test_cli_grade_exports_written_answers(out, tmp_path):
    (tmp_path / "sub").mkdir()
    nb = load(out, "student")
    cell = next(c for c in nb["cells"] if c["metadata"].get("written") == "w2")
    cell["source"] = "Biases <b>shift</b>; the scale keeps the expectation."
    (tmp_path / "sub" / NB).write_text(json.dumps(nb))
    args = ["grade", str(tmp_path / "sub"), "--assignment", str(out / "autograder" /
                                                                  "assignment"),
            "--out", str(tmp_path / "results.json")]
    if os.geteuid() != 0:
        args.append("--unsandboxed")
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(args) == 0
    page = (tmp_path / "results.written.html").read_text()
    assert "w2 (written answer) (10 points" in page
    assert "Biases &lt;b&gt;shift&lt;/b&gt;" in page and "<b>shift" not in page


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_solution_full_marks_on_other_backends(out, backend, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} not installed")
    results = grade(out, (out / "solution" / NB).read_bytes(), backend=backend, tmp=tmp_path)
    auto = graded(results)
    assert all(t["score"] == t["max_score"] for t in auto), \
        [(t["name"], t["output"][:300]) for t in auto if t["status"] != "passed"]
    assert all(t["extra_data"]["reference"] == backend for t in auto)


def test_exported_py_is_graded_like_the_notebook(out, tmp_path):
    jupytext = pytest.importorskip("jupytext")
    nb = jupytext.read(str(out / "solution" / NB))
    text = jupytext.writes(nb, fmt="py:percent")
    results = grade(out, text.encode(), name="hw4.py", tmp=tmp_path)
    assert all(t["score"] == t["max_score"] for t in graded(results))
    assert results["tests"][-1]["extra_data"]["answer"]   # written answers read from it too


def test_magics_in_the_solution_are_neutralised_not_fatal(out, tmp_path):
    nb = load(out, "solution")
    nb["cells"].insert(1, {"cell_type": "code", "execution_count": None, "metadata": {},
                           "outputs": [], "source": "%matplotlib inline\n!pip install foo\n"})
    results = grade(out, json.dumps(nb).encode(), tmp=tmp_path)
    assert all(t["score"] == t["max_score"] for t in graded(results))


# -------------------------------------------------------------- hostile notebooks
def _stub_score(out, tmp_path) -> float:
    return grade(out, (out / "student" / NB).read_bytes(), tmp=tmp_path)["score"]


def _assert_no_better_than_stub(results: dict, out: Path, tmp_path: Path) -> None:
    assert results["score"] <= _stub_score(out, tmp_path) == 0
    assert all(t["score"] == 0 for t in results["tests"])


def test_malformed_json(out, tmp_path):
    results = grade(out, b'{"cells": [{"cell_type": "code", "source": "def adam(', tmp=tmp_path)
    assert results["score"] == 0 and "not valid JSON" in results["output"]
    assert results["extra_data"]["status"] == "ungradable"
    schema = grade(out, json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                                    "cells": [{"cell_type": "code", "source": 3}]}).encode(),
                   tmp=tmp_path)
    assert schema["score"] == 0 and "not a valid notebook" in schema["output"]


def test_one_gigabyte_cell(out, tmp_path):
    """Refused by its size before anything reads it (the file is written for real)."""
    folder = tmp_path / "submission"
    folder.mkdir()
    with open(folder / NB, "wb") as f:
        f.write(b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type"'
                b': "code", "metadata": {}, "outputs": [], "execution_count": null, "source": "')
        chunk = b"x = 1; " * (2 ** 20 // 7)
        for _ in range(2 ** 30 // len(chunk) + 1):
            f.write(chunk)
        f.write(b'"}]}')
    start = time.perf_counter()
    results = grade_submission(folder, out / "autograder" / "assignment",
                               unsandboxed=os.geteuid() != 0)
    assert validate_results(results) == [] and results["score"] == 0
    assert "larger than" in results["output"] and time.perf_counter() - start < 60
    (folder / NB).unlink()
    with pytest.raises(NotebookError, match="more than the 5 MiB"):
        big = tmp_path / "big.ipynb"
        big.write_bytes(b" " * (MAX_NOTEBOOK_BYTES + 1))
        read_cells(big)


def test_magics_and_shell_escapes_never_run(out, tmp_path):
    marker = tmp_path / "pwned"
    nb = load(out, "student")
    evil = [f"!touch {marker}", f"%system touch {marker}", f"%%bash\ntouch {marker}",
            f"files = !touch {marker}", f"get_ipython().system('touch {marker}')",
            f"def adam(*args, **kwargs):\n    !touch {marker}\n    return 0",
            f"import os\nos.system('touch {marker}')"]
    nb["cells"] += [{"cell_type": "code", "execution_count": None, "metadata": {},
                     "outputs": [], "source": s} for s in evil]
    results = grade(out, json.dumps(nb).encode(), tmp=tmp_path)
    _assert_no_better_than_stub(results, out, tmp_path)
    assert not marker.exists()
    assert neutralise_magics("%%bash\nls") == ""
    assert neutralise_magics("def f():\n    !ls\n    x = %time g()") == \
        "def f():\n    pass  # IPython syntax removed by the grader\n" \
        "    pass  # IPython syntax removed by the grader"
    valid = "x = (a\n     % b)  # why?\nprint(x)"      # valid Python is left as it is
    assert neutralise_magics(valid) == valid
    assert neutralise_magics("np.stack?\nx = 1") == \
        "pass  # IPython syntax removed by the grader\nx = 1"


def test_code_hidden_in_outputs_or_metadata_is_ignored(out, tmp_path):
    solution, nb = load(out, "solution"), load(out, "student")
    code = "".join("".join(c["source"]) for c in solution["cells"] if c["cell_type"] == "code")
    for cell in nb["cells"]:
        cell.setdefault("metadata", {})["code"] = code
        if cell["cell_type"] == "code":
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": code},
                               {"output_type": "execute_result", "execution_count": 1,
                                "metadata": {}, "data": {"text/plain": code}}]
            cell["execution_count"] = 1
    nb["metadata"]["solution"] = code
    results = grade(out, json.dumps(nb).encode(), tmp=tmp_path)
    _assert_no_better_than_stub(results, out, tmp_path)
    module = module_source(read_cells_json(nb, tmp_path))
    assert module.count("def adam") == 1 and 'raise NotImplementedError("adam")' in module


def read_cells_json(nb: dict, tmp_path: Path) -> list[dict]:
    path = tmp_path / "x.ipynb"
    path.write_text(json.dumps(nb))
    return read_cells(path)


def test_notebook_that_imports_the_grader(out, tmp_path):
    """Its code reaches for edu_nn (the grader, the optimizers, the instructor's files): the
    jail has no edu_nn, and the manifest blocks it where no jail can be built."""
    nb = load(out, "student")
    names = ["sgd_momentum", "rmsprop", "adam", "xavier_uniform", "kaiming_normal",
             "l2_penalty", "dropout", "early_stopping"]
    body = ("    from edu_nn.grading.notebook import Checker\n"
            "    import edu_nn.optim, edu_nn.grading.grader\n"
            "    Checker('/autograder/source/assignment').check('q1')\n"
            "    return args[0]\n")
    nb["cells"].append({"cell_type": "code", "execution_count": None, "metadata": {},
                        "outputs": [], "source": "from edu_nn.grading.notebook import Checker\n"
                        "grader = Checker()\n" + "".join(
                            f"def {n}(*args, **kwargs):\n{body}" for n in names)})
    results = grade(out, json.dumps(nb).encode(), tmp=tmp_path)
    _assert_no_better_than_stub(results, out, tmp_path)


# ---------------------------------------------------------------- inline checks
def test_inline_check_in_a_kernel(out, tmp_path):
    """The student's notebook run top to bottom by nbclient in the handout folder: each
    grader.check shows its report (HTML and text); the stubs fail with a hint."""
    nbclient = pytest.importorskip("nbclient")
    import nbformat
    folder = tmp_path / "handout"
    shutil.copytree(out / "student", folder)
    nb = nbformat.read(str(folder / NB), as_version=4)
    sol = nbformat.read(str(out / "solution" / NB), as_version=4)
    # the student has answered q1 only: q1's cell as in the solution, the rest stubs
    q1 = next(i for i, c in enumerate(sol.cells) if "def sgd_momentum" in c.source)
    nb.cells[q1] = copy.deepcopy(sol.cells[q1])
    # and q4 wrong by a constant factor (a bound twice too large)
    q4 = next(i for i, c in enumerate(sol.cells) if "def xavier_uniform" in c.source)
    nb.cells[q4] = copy.deepcopy(sol.cells[q4])
    nb.cells[q4].source = nb.cells[q4].source.replace("bound = gain *", "bound = 2 * gain *")
    stop = next(i for i, c in enumerate(nb.cells) if 'grader.check("q4")' in c.source)
    nb.cells = nb.cells[:stop + 1]          # the checks of q1 to q4 (kept short)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(folder)}})
    client.execute(env={**os.environ, "PYTHONWARNINGS": "ignore"})
    shown = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith("grader.check("):
            data = cell.outputs[-1]["data"]
            shown[cell.source.strip()] = (data["text/html"], data["text/plain"])
    html1, text1 = shown['grader.check("q1")']
    assert "q1: 20 / 20 points" in html1 and "q1_sgd_nesterov" in html1
    html3, text3 = shown['grader.check("q3")']
    assert "q3: 0 / 10 points" in html3 and "NotImplementedError" in html3
    assert "q3_adam" in text3 and "q3_adam_other_betas" not in html3 + text3
    html4, text4 = shown['grader.check("q4")']
    assert "q4: 8 / 15 points" in html4 and "PASS  q4_kaiming_normal" in text4
    assert "worst" in text4 and "hint:" in text4 and "hint:" in html4, text4


# ------------------------------------------------------------- Gradescope flow
def test_gradescope_run_solution_and_stub_notebooks(out, tmp_path):
    """setup.sh in a clean environment, then run_autograder for the solution and the stub
    notebooks (tests/test_gradescope.py's machinery, one setup)."""
    if os.geteuid() != 0:
        pytest.skip("run_autograder runs as root on Gradescope (and in CI)")
    from test_gradescope import Autograder, _clean_env, _unzip
    root = tmp_path / "autograder_root"
    (root / "source").mkdir(parents=True)
    _unzip(out / "autograder.zip", root / "source")
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    done = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=_clean_env(root),
                          cwd=root / "source", capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ag = Autograder("hw4_notebook", out, root, 0.0)
    solution = ag.run(ag.version("solution"))
    assert all(t["score"] == t["max_score"] for t in graded(solution))
    assert solution["score"] == 90 and sum(t["max_score"] for t in solution["tests"]) == 110, \
        solution["output"]
    stub = ag.run(ag.version("student"))
    assert stub["score"] == 0 and len(stub["tests"]) == 13
    exported = ag.run({"hw4.py": b"def adam(:\n"})     # the exported .py, with an error
    assert exported["score"] == 0 and "syntax error" in exported["output"]


def test_edu_nn_check_in_the_handout(out, tmp_path):
    """`edu-nn check` in the student folder grades the notebook's public tests (the written
    answers are not part of it: they are graded by hand after submission)."""
    from edu_nn.grading.check import check
    folder = tmp_path / "handout"
    shutil.copytree(out / "student", folder)
    stream = io.StringIO()
    assert check(folder, color="never", stream=stream, select="q6_") == 1
    text = stream.getvalue()
    assert "q6_dropout_train" in text and "q6_dropout_eval" in text
    assert "written" not in text and "0 / 10 points" in text


def test_grade_all_exports_each_students_written_answers(out, tmp_path):
    export = tmp_path / "export"
    for student, folder in (("ada", "solution"), ("bob", "student")):
        (export / student).mkdir(parents=True)
        shutil.copy(out / folder / NB, export / student / NB)
    args = ["grade-all", str(export), "--assignment", str(out / "autograder" / "assignment"),
            "--out", str(tmp_path / "graded"), "-j", "1"]
    if os.geteuid() != 0:
        args.append("--unsandboxed")
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(args) == 0
    for student, score in (("ada", 90), ("bob", 0)):
        results = json.loads((tmp_path / "graded" / student / "results.json").read_text())
        assert validate_results(results) == [] and results["score"] == score
        assert "w1 (written answer)" in (tmp_path / "graded" / student /
                                         "results.written.html").read_text()
    gradebook = (tmp_path / "graded" / "gradebook.csv").read_text()
    assert "w2 (written answer)" in gradebook
