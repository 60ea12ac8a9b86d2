"""edu_nn.train.tuner: grid, random and coarse-to-fine search, records, files, n_jobs.

The train functions live at module level so worker processes (n_jobs=2) can import them.
Most use a cheap closed-form "validation loss" (its minimum is known by hand); one trains a
real tiny model, so the n_jobs comparison covers edu_nn's seeded randomness too.
"""
from __future__ import annotations

import csv
import itertools
import json
import math
import os

import numpy as np
import pytest

import edu_nn
from edu_nn import nn, optim
from edu_nn.train import fit
from edu_nn.train.tuner import (choice, coarse_to_fine, grid_search, loguniform,
                                random_search, uniform)


def quadratic(config, seed):
    """val_loss = (log10 lr + 2)^2 + (dropout - 0.3)^2: best at lr = 1e-2, dropout = 0.3."""
    loss = (math.log10(config["lr"]) + 2) ** 2 + (config.get("dropout", 0.3) - 0.3) ** 2
    return {"val_loss": loss, "lr_used": config["lr"]}


def fails_for_large_lr(config, seed):
    if config["lr"] > 0.5:
        raise FloatingPointError("diverged")
    return quadratic(config, seed)


def tiny_training(config, seed):
    """A real (small) fit: its result depends on the seeded weights and the config."""
    edu_nn.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(32, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    loader = [(edu_nn.tensor(x[i:i + 16]), edu_nn.tensor(y[i:i + 16])) for i in (0, 16)]
    model = nn.Sequential(nn.Linear(2, config["hidden"]), nn.ReLU(),
                          nn.Linear(config["hidden"], 2))
    noise = float(edu_nn.randn(1).item())    # the default generator: seeded by the tuner
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=config["lr"]),
                  loader, loader, epochs=2)
    return {"val_loss": history["val_loss"][-1], "noise": noise, "pid": os.getpid()}


def comparable(trials):
    """The records without what may differ between runs: wall time and process id."""
    return [{**{k: v for k, v in t.items() if k != "time"},
             "result": {k: v for k, v in t["result"].items() if k != "pid"}} for t in trials]


def test_grid_covers_the_product_exactly(tmp_path):
    grid = {"lr": [1e-3, 1e-2, 1e-1], "dropout": [0.0, 0.3], "epochs": 5}
    result = grid_search(quadratic, grid, out_dir=tmp_path)
    configs = [t["config"] for t in result.trials]
    expected = [{"lr": lr, "dropout": d, "epochs": 5}
                for lr, d in itertools.product(grid["lr"], grid["dropout"])]
    assert configs == expected                            # every combination, once, in order
    assert result.best_config == {"lr": 1e-2, "dropout": 0.3, "epochs": 5}
    assert result.best_result["val_loss"] == pytest.approx(0.0)
    assert [t["trial"] for t in result.trials] == list(range(6))
    assert all(t["seed"] == 0 and t["status"] == "ok" and t["time"] >= 0
               for t in result.trials)


def test_random_search_is_reproducible_and_log_uniform():
    space = {"lr": loguniform(1e-5, 1e-1), "dropout": uniform(0.0, 0.5),
             "hidden": choice([16, 32, 64])}
    a = random_search(quadratic, space, n_trials=200, seed=3)
    b = random_search(quadratic, space, n_trials=200, seed=3)
    c = random_search(quadratic, space, n_trials=200, seed=4)
    assert comparable(a.trials) == comparable(b.trials)
    assert [t["config"] for t in a.trials] != [t["config"] for t in c.trials]
    lrs = np.array([t["config"]["lr"] for t in a.trials])
    assert lrs.min() >= 1e-5 and lrs.max() <= 1e-1
    # log-uniform: each decade gets about a quarter of the draws (binomial sd ~ 6 of 200)
    decades = np.histogram(np.log10(lrs), bins=[-5, -4, -3, -2, -1])[0]
    assert decades.min() >= 30, decades
    dropouts = [t["config"]["dropout"] for t in a.trials]
    assert 0.0 <= min(dropouts) and max(dropouts) <= 0.5
    assert {t["config"]["hidden"] for t in a.trials} == {16, 32, 64}
    assert a.best_trial is min(a.trials, key=lambda t: t["metric"])


def test_coarse_to_fine_narrows_around_the_best():
    space = {"lr": loguniform(1e-6, 1.0), "dropout": uniform(0.0, 1.0), "act": choice("abc")}
    result = coarse_to_fine(quadratic, space, rounds=3, trials_per_round=8, seed=0, top_k=2,
                            shrink=0.5)
    assert len(result.trials) == 24 and len(result.spaces) == 3
    assert [t["round"] for t in result.trials] == [0] * 8 + [1] * 8 + [2] * 8
    widths = [math.log(s["lr"]["loguniform"][1] / s["lr"]["loguniform"][0])
              for s in result.spaces]
    assert widths == pytest.approx([math.log(1e6), 0.5 * math.log(1e6), 0.25 * math.log(1e6)])
    for round_, space_r in enumerate(result.spaces):
        low, high = space_r["lr"]["loguniform"]
        assert 1e-6 <= low < high <= 1.0
        assert all(low <= t["config"]["lr"] <= high
                   for t in result.trials if t["round"] == round_)
        if round_:   # each range holds the best trial of the rounds before it
            best_before = min((t for t in result.trials if t["round"] < round_),
                              key=lambda t: t["metric"])
            assert low <= best_before["config"]["lr"] <= high
    assert len(result.spaces[2]["act"]["choice"]) <= 2          # top_k=2 options kept
    best_first_round = min(t["metric"] for t in result.trials if t["round"] == 0)
    assert result.best_trial["metric"] <= best_first_round


def test_records_written_to_csv_and_json(tmp_path):
    space = {"lr": loguniform(1e-3, 1.0)}
    result = random_search(fails_for_large_lr, space, n_trials=12, seed=1,
                           out_dir=tmp_path / "run")
    with open(tmp_path / "run" / "trials.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    data = json.loads((tmp_path / "run" / "trials.json").read_text())
    assert len(rows) == len(data["trials"]) == len(result.trials) == 12
    failed = [t for t in result.trials if t["status"] == "failed"]
    assert failed and all("FloatingPointError: diverged" in t["error"] for t in failed)
    for row, trial in zip(rows, result.trials):
        assert int(row["trial"]) == trial["trial"] and row["status"] == trial["status"]
        assert float(row["config.lr"]) == pytest.approx(trial["config"]["lr"], rel=1e-12)
        if trial["status"] == "ok":
            assert float(row["metric"]) == pytest.approx(trial["metric"], rel=1e-12)
    assert data["best_config"] == result.best_config and data["metric"] == "val_loss"
    assert data["best_trial"] == result.best_trial["trial"]


def test_parallel_trials_equal_sequential_ones(tmp_path):
    space = {"lr": loguniform(1e-2, 1.0), "hidden": choice([4, 8])}
    one = random_search(tiny_training, space, n_trials=4, seed=0)
    two = random_search(tiny_training, space, n_trials=4, seed=0, n_jobs=2,
                        out_dir=tmp_path)
    assert comparable(one.trials) == comparable(two.trials)
    assert len({t["result"]["val_loss"] for t in one.trials}) == 4   # the trials differ
    assert all(t["result"]["pid"] != os.getpid() for t in two.trials)  # really in workers
    saved = json.loads((tmp_path / "trials.json").read_text())["trials"]
    assert comparable(saved) == comparable(two.trials)


def test_errors_teach():
    with pytest.raises(KeyError, match=r"returned \['lr_used', 'val_loss'\].*metric='val_acc'"):
        grid_search(quadratic, {"lr": [0.1]}, metric="val_acc")
    with pytest.raises(TypeError, match="top level of a module"):
        grid_search(lambda c, s: {"val_loss": 0.0}, {"lr": [0.1, 0.2]}, n_jobs=2)
    with pytest.raises(RuntimeError, match="every one of the 2 trials failed"):
        grid_search(fails_for_large_lr, {"lr": [0.6, 0.7]})
    with pytest.raises(FloatingPointError):
        grid_search(fails_for_large_lr, {"lr": [0.6]}, on_error="raise")
    with pytest.raises(ValueError, match="0 < low"):
        loguniform(0.0, 1.0)
    with pytest.raises(ValueError, match="low < high"):
        uniform(1.0, 0.5)
    with pytest.raises(TypeError, match=r"choice\(\[1, 2\]\)"):
        random_search(quadratic, {"lr": [1, 2]})
    with pytest.raises(ValueError, match="empty"):
        grid_search(quadratic, {"lr": []})
