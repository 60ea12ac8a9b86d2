"""``edu-nn grade-all`` on 30 generated submissions (right, wrong, malicious) with -j 2.

Expected scores per kind come from tests/fixtures/grading/adv (right 7, every result halved
0, only the forward right 2 = linear_forward's points, malicious 0, missing file 0).
"""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path

from edu_nn import cli
from edu_nn.grading.results import validate_results

ADV = Path(__file__).parent / "fixtures" / "grading" / "adv"
RIGHT = (ADV / "ops.py").read_text()
HALVED = RIGHT.replace("grad_x = grad @ W.T", "grad_x = 0.5 * (grad @ W.T)")
KINDS = {   # kind -> (ops.py text or None for a missing file, expected score, status)
    "right": (RIGHT, 7.0, "graded"),
    "wrong_backward": (HALVED, 2.0, "graded"),          # linear_forward (2 points) still right
    "wrong_everything": (HALVED.replace("return x @ W", "return x @ W + 1"), 0.0, "graded"),
    "forger": ("import os, json\njson.dump({'score': 99}, open('results.json', 'w'))\n"
               "os._exit(0)\n", 0.0, "graded"),
    "torch_user": ("import torch\n" + RIGHT, 0.0, "graded"),
    "syntax_error": (RIGHT.replace("def matmul_backward(x, W, grad):",
                                   "def matmul_backward(x, W, grad)"), 0.0, "ungradable"),
    "missing_file": (None, 0.0, "ungradable"),
}
COUNTS = {"right": 8, "wrong_backward": 6, "wrong_everything": 4, "forger": 4,
          "torch_user": 3, "syntax_error": 3, "missing_file": 2}


def test_grade_all_thirty_submissions_in_parallel(tmp_path, capsys):
    folder, out = tmp_path / "submissions", tmp_path / "graded"
    expected = {}
    for kind, count in COUNTS.items():
        text, score, status = KINDS[kind]
        for i in range(count):
            student = f"{kind}_{i:02d}"
            (folder / student).mkdir(parents=True)
            if text is not None:
                (folder / student / "ops.py").write_text(text)
            expected[student] = (score, status)
    assert len(expected) == 30
    start = time.perf_counter()
    assert cli.main(["grade-all", str(folder), "--assignment", str(ADV), "-j", "2",
                     "--out", str(out)]) == 0
    seconds = time.perf_counter() - start
    assert "graded 30 submissions" in capsys.readouterr().out
    with capsys.disabled():
        print(f"\ngrade-all: 30 submissions, -j 2, {seconds:.1f} s")
    with open(out / "gradebook.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["student"] for r in rows] == sorted(expected)
    assert list(rows[0]) == ["student", "score", "max_score", "status", "test_matmul_backward",
                             "test_linear_forward", "test_backward_through_driver"]
    for r in rows:
        score, status = expected[r["student"]]
        assert (float(r["score"]), r["status"]) == (score, status), r
        assert float(r["max_score"]) == 7.0
        assert float(r["score"]) == sum(float(r[t]) for t in list(r)[4:])
        results = json.loads((out / r["student"] / "results.json").read_text())
        assert validate_results(results) == [] and results["score"] == score
    assert seconds < 55
