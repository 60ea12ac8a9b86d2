"""``edu-nn grade-all`` on 30 generated submissions (right, wrong, syntax error, missing,
nested, hang at import, malicious) with -j 2, laid out as Gradescope's "Export Submissions"
download (submission_metadata.yml and one folder per submission).

Expected scores per kind come from tests/fixtures/grading/adv (1-s timeouts; right 7, every
result halved 2 = linear_forward's points, malicious 0, missing file 0).
"""
from __future__ import annotations

import csv
import datetime
import json
import time
from pathlib import Path

from edu_nn import cli
from edu_nn.grading.gradebook import MAX_POINTS_ROW, grade_all, read_export_metadata
from edu_nn.grading.results import validate_results

ADV = Path(__file__).parent / "fixtures" / "grading" / "adv"
RIGHT = (ADV / "ops.py").read_text()
HALVED = RIGHT.replace("grad_x = grad @ W.T", "grad_x = 0.5 * (grad @ W.T)")
TESTS = ["test_matmul_backward", "test_linear_forward", "test_backward_through_driver"]
KINDS = {   # kind -> (path of ops.py in the upload, its text or None, expected score, status)
    "right": ("ops.py", RIGHT, 7.0, "graded"),
    "nested": ("my_homework/src/ops.py", RIGHT, 7.0, "graded"),   # graded, as on Gradescope
    "wrong_backward": ("ops.py", HALVED, 2.0, "graded"),   # linear_forward (2 points) right
    "wrong_everything": ("ops.py", HALVED.replace("return x @ W", "return x @ W + 1"), 0.0,
                         "graded"),
    "forger": ("ops.py", "import os, json\njson.dump({'score': 99}, open('results.json', 'w'))"
                         "\nos._exit(0)\n", 0.0, "graded"),
    "syntax_error": ("ops.py", RIGHT.replace("def matmul_backward(x, W, grad):",
                                             "def matmul_backward(x, W, grad)"), 0.0,
                     "ungradable"),
    "missing_file": ("notes.txt", "forgot it\n", 0.0, "ungradable"),
    "hang_at_import": ("ops.py", "while True:\n    pass\n" + RIGHT, 0.0, "timeout"),
}
COUNTS = {"right": 7, "nested": 4, "wrong_backward": 5, "wrong_everything": 3, "forger": 3,
          "syntax_error": 3, "missing_file": 3, "hang_at_import": 2}
DUE = datetime.datetime(2026, 12, 1, 23, 59, tzinfo=datetime.timezone.utc)


def make_export(folder: Path) -> dict[str, tuple]:
    """Gradescope's export layout; returns folder -> (kind, name, late)."""
    expected, lines = {}, []
    n = 0
    for kind, count in COUNTS.items():
        path, text, _, _ = KINDS[kind]
        for i in range(count):
            n += 1
            sub = f"submission_{1000 + n}"
            (folder / sub / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / sub / path).write_text(text)
            late = n % 5 == 0
            created = "2026-12-02 08:00:00.123456789 +0000" if late else \
                "2026-12-01 15:30:00.000000000 -0800"
            name = f"{kind.title()} Student {i}"
            lines += [f"{sub}:", "  :submitters:", f"  - :name: {name}",
                      f"    :sid: '{n:04d}'", f"    :email: s{n}@example.edu",
                      f"  :created_at: {created}", "  :score: 0.0", "  :history: []"]
            expected[sub] = (kind, name, late)
    (folder / "submission_metadata.yml").write_text("\n".join(lines) + "\n")
    return expected


def test_grade_all_thirty_submissions_in_parallel(tmp_path, capsys):
    folder, out = tmp_path / "export", tmp_path / "graded"
    folder.mkdir()
    expected = make_export(folder)
    assert len(expected) == 30
    start = time.perf_counter()
    assert cli.main(["grade-all", str(folder), "--assignment", str(ADV), "-j", "2",
                     "--out", str(out), "--due", "2026-12-01T23:59:00+00:00"]) == 0
    seconds = time.perf_counter() - start
    assert "graded 30 submissions" in capsys.readouterr().out
    with capsys.disabled():
        print(f"\ngrade-all: 30 submissions, -j 2, {seconds:.1f} s")
    with open(out / "gradebook.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["student", "name", "email", "sid", "created_at", "late", "score",
                             "max_score", "status", "seconds", *TESTS,
                             *(f"{t} s" for t in TESTS)]
    top = rows.pop(0)     # the max-points row
    assert top["student"] == MAX_POINTS_ROW and float(top["max_score"]) == 7.0
    assert [float(top[t]) for t in TESTS] == [3.0, 2.0, 2.0]
    assert [r["student"] for r in rows] == sorted(expected)
    for r in rows:
        kind, name, late = expected[r["student"]]
        _, _, score, status = KINDS[kind]
        assert (float(r["score"]), r["status"]) == (score, status), (kind, r)
        assert r["name"] == name and r["late"] == ("yes" if late else "no")
        assert r["email"] and r["sid"] and r["created_at"].startswith("2026-12-0")
        assert float(r["max_score"]) == 7.0
        assert float(r["score"]) == sum(float(r[t]) for t in TESTS)
        assert all(r[f"{t} s"] != "" for t in TESTS) and float(r["seconds"]) >= 0
        if kind == "hang_at_import":      # paid once by the import probe, not by each test
            assert float(r["seconds"]) >= 2.0 and all(float(r[f"{t} s"]) < 1.0 for t in TESTS)
        results = json.loads((out / r["student"] / "results.json").read_text())
        assert validate_results(results) == [] and results["score"] == score
    assert seconds < 90


def test_every_row_is_filled_when_grading_crashes(tmp_path):
    """A broken assignment makes each grading raise: still one row (status error) and one
    results.json per submission."""
    folder = tmp_path / "subs"
    for student in ("ann", "bob"):
        (folder / student).mkdir(parents=True)
        (folder / student / "ops.py").write_text(RIGHT)
    broken = tmp_path / "broken"
    broken.mkdir()                          # no assignment.toml
    rows = grade_all(folder, broken, tmp_path / "out")
    assert [(r.student, r.status, r.score) for r in rows] == [("ann", "error", 0.0),
                                                              ("bob", "error", 0.0)]
    for student in ("ann", "bob"):
        results = json.loads((tmp_path / "out" / student / "results.json").read_text())
        assert validate_results(results) == [] and "grader failed" in results["output"]


def test_export_metadata_group_submission_and_times(tmp_path):
    (tmp_path / "submission_metadata.yml").write_text(
        "submission_7:\n  :submitters:\n  - :name: Pair One\n    :sid: '200'\n"
        "    :email: one@example.edu\n  - :name: Pair Two\n    :sid: '201'\n"
        "    :email: two@example.edu\n  :created_at: 2026-12-01 15:59:00.5 -0800\n"
        "submission_8:\n  :submitters:\n  - :name: Solo\n")
    meta = read_export_metadata(tmp_path)
    assert meta["submission_7"]["name"] == "Pair One; Pair Two"
    assert meta["submission_7"]["sid"] == "200; 201"
    assert meta["submission_7"]["created_at"] == datetime.datetime(
        2026, 12, 1, 23, 59, 0, 500000, tzinfo=datetime.timezone.utc)
    assert meta["submission_8"] == {"name": "Solo", "email": "", "sid": "",
                                    "created_at": None}
    assert read_export_metadata(tmp_path / "nowhere") == {}
