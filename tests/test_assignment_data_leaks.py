"""Training tests cannot be passed by looking the held-out labels up (assignment.toml's
``block_imports``).

hw2's training test sends the child the held-out digit images and keeps their labels. The
images are sklearn's digits, so a submission that skips training and finds each image in
``sklearn.datasets.load_digits()`` would score 100%. The jail holds no sklearn (nor edu_nn or
mnist1d, which regenerate MNIST-1D with its labels), and hw2's manifest names the block so the
refusal explains itself. Each cheat is graded: with the assignment as shipped (the cheat must
fail, and the message must name the blocked import), with ``block_imports`` taken out of the
manifest (still fails: the jail is an allow-list), and unsandboxed without the block (the
cheat must then pass: this shows it is a working cheat, so the other gradings test something).
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from edu_nn.grading.assign import assign
from edu_nn.grading.grader import grade_submission
from edu_nn.grading.manifest import ManifestError, parse_manifest
from edu_nn.grading.results import validate_results
import edu_nn.grading.sandbox as sandbox
from edu_nn.grading.sandbox import Protections, protections

pytest.importorskip("sklearn")
ASSIGNMENTS = Path(__file__).resolve().parents[1] / "assignments"
TRAINING_TESTS = {"test_train_digits", "test_train_digits_other_split"}

# Both cheats replace train_mlp with a model that does no training at all.
LOOKUP_BY_IMPORT = '''

class _Lookup:
    """Finds each test image among sklearn's digits and returns its label."""

    def predict(self, x):
        from sklearn.datasets import load_digits
        data = load_digits()
        table = {tuple(np.round(row / 16.0, 6)): label
                 for row, label in zip(data.data, data.target)}
        return np.array([table[tuple(np.round(row, 6))] for row in x], dtype=np.int64)


def train_mlp(x_train, y_train, seed=0):
    return _Lookup()
'''

LOOKUP_BY_FILE = '''

class _Lookup:
    """Reads sklearn's digits file by path (no import) and looks each test image up."""

    def predict(self, x):
        import gzip
        with gzip.open(@PATH@) as f:
            data = np.loadtxt(f, delimiter=",")
        table = {tuple(np.round(row[:-1] / 16.0, 6)): int(row[-1]) for row in data}
        return np.array([table[tuple(np.round(row, 6))] for row in x], dtype=np.int64)


def train_mlp(x_train, y_train, seed=0):
    return _Lookup()
'''


LOOKUP_BY_EDU_NN_FILE = '''

class _Lookup:
    """Reads edu_nn's shipped copy of the digits by path (no import) and looks images up."""

    def predict(self, x):
        data = np.load(@PATH@)
        table = {tuple(np.round(img.reshape(-1) / 16.0, 6)): int(label)
                 for img, label in zip(data["images"], data["target"])}
        return np.array([table[tuple(np.round(row, 6))] for row in x], dtype=np.int64)


def train_mlp(x_train, y_train, seed=0):
    return _Lookup()
'''


@pytest.fixture(scope="module")
def hw2(tmp_path_factory):
    """(solution folder, shipped autograder assignment, the same without block_imports)."""
    out = tmp_path_factory.mktemp("hw2")
    result = assign(ASSIGNMENTS / "hw2_mlp", out / "gen", validate=False, pypi=True)
    shipped = result.autograder / "assignment"
    unblocked = out / "unblocked"
    shutil.copytree(shipped, unblocked)
    toml = unblocked / "assignment.toml"
    text, n = re.subn(r"(?m)^block_imports = .*\n", "", toml.read_text())
    assert n == 1, "the shipped hw2 manifest blocks imports"
    toml.write_text(text)
    return result.solution, shipped, unblocked


def _grade_cheat(solution: Path, assignment: Path, cheat: str, tmp_path: Path,
                 unsandboxed: bool = False) -> dict:
    sub = tmp_path / "submission"
    shutil.copytree(solution, sub)
    (sub / "mlp.py").write_text((solution / "mlp.py").read_text() + cheat)
    if unsandboxed:      # as on a machine where no jail can be built
        saved, sandbox._PROTECTIONS = sandbox._PROTECTIONS, Protections("unsandboxed",
                                                                        why="a test")
        try:
            results = grade_submission(sub, assignment, unsandboxed=True)
        finally:
            sandbox._PROTECTIONS = saved
    else:
        results = grade_submission(sub, assignment)
    assert validate_results(results) == []
    return {t["name"]: t for t in results["tests"] if t["name"] in TRAINING_TESTS}


def test_sklearn_lookup_fails_and_names_the_block(hw2, tmp_path):
    solution, shipped, unblocked = hw2
    blocked = _grade_cheat(solution, shipped, LOOKUP_BY_IMPORT, tmp_path / "a")
    assert set(blocked) == TRAINING_TESTS
    for t in blocked.values():
        assert t["status"] == "failed" and t["score"] == 0
        assert "sklearn is not available while grading this assignment" in t["output"]
    if protections().jail:    # without the block the jail still has no sklearn
        jailed = _grade_cheat(solution, unblocked, LOOKUP_BY_IMPORT, tmp_path / "c")
        for t in jailed.values():
            assert t["score"] == 0 and "No module named 'sklearn'" in t["output"]
    # the same cheat without the block or a jail: full marks on the training tests
    open_ = _grade_cheat(solution, unblocked, LOOKUP_BY_IMPORT, tmp_path / "b", True)
    assert all(t["status"] == "passed" and t["score"] == t["max_score"] > 0
               for t in open_.values()), {k: t["output"][:300] for k, t in open_.items()}


@pytest.mark.parametrize("where", ["sklearn", "edu_nn"])
def test_reading_the_data_file_by_path_fails_in_the_jail(hw2, tmp_path, where):
    """Without importing sklearn or edu_nn, their copies of the digits can be opened by path,
    unless the child sees only the jail (as root, as on Gradescope and in CI)."""
    if where == "sklearn":
        import sklearn
        path = Path(sklearn.__file__).parent / "datasets" / "data" / "digits.csv.gz"
        cheat = LOOKUP_BY_FILE
    else:
        import edu_nn.data.datasets
        path = Path(edu_nn.data.datasets.__file__).parent / "digits.npz"
        cheat = LOOKUP_BY_EDU_NN_FILE
    assert path.is_file()
    cheat = cheat.replace("@PATH@", repr(str(path)))
    solution, shipped, unblocked = hw2
    open_ = _grade_cheat(solution, unblocked, cheat, tmp_path / "b", unsandboxed=True)
    assert all(t["status"] == "passed" for t in open_.values()), "the file cheat works"
    if not protections().jail:
        pytest.skip(f"no jail here: {protections().why}")
    blocked = _grade_cheat(solution, unblocked, cheat, tmp_path / "a")
    for t in blocked.values():
        assert t["status"] == "failed" and t["score"] == 0
        assert path.name in t["output"] and "No such file" in t["output"]


@pytest.mark.parametrize("name, modules", [("hw2_mlp", {"sklearn", "edu_nn"}),
                                           ("hw3_cnn", {"sklearn", "edu_nn", "mnist1d"})])
def test_shipped_manifests_block_the_data_libraries(name, modules):
    manifest = parse_manifest((ASSIGNMENTS / name / "assignment.toml").read_text())
    assert set(manifest.block_imports) == modules
    assert "block_imports" in manifest.to_toml(), "the autograder's copy keeps the block"


@pytest.mark.parametrize("value, message", [
    ('"sklearn"', "must be a list of top-level module names"),
    ('["sklearn.datasets"]', "must be a list of top-level module names"),
    ('["numpy"]', "cannot hold numpy"),
])
def test_bad_block_imports_are_named(value, message):
    text = f'name = "x"\nfiles = ["a.py"]\nblock_imports = {value}\n'
    with pytest.raises(ManifestError, match=message) as info:
        parse_manifest(text)
    assert str(info.value).startswith("assignment.toml:3:")
