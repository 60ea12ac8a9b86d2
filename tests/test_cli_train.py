"""``edu-nn train`` and ``edu-nn tune``: outputs, reproducibility and clear errors.

Runs are tiny (a few epochs of a toy set) so the file stays fast; the accuracy targets live
in test_mnist1d_protocol.py. The metrics a run reports are checked against an independent
evaluation of the checkpoint it wrote.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import edu_nn
from edu_nn.cli import main
from edu_nn.data import get_arrays
from edu_nn.train.experiment import RECIPES, recipe_for, run_experiment
from edu_nn.train.models import MODELS, build_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _train(tmp_path, *args, out="run"):
    rc = main(["train", "--out", str(tmp_path / out), "--no-progress", *args])
    return rc, tmp_path / out


def _metrics(folder):
    with open(folder / "metrics.json") as f:
        return json.load(f)


def test_train_writes_metrics_checkpoint_and_curves(tmp_path, capsys):
    rc, out = _train(tmp_path, "--data", "moons", "--model", "mlp", "--epochs", "3",
                     "--seed", "1")
    assert rc == 0
    printed = capsys.readouterr().out
    m = _metrics(out)
    assert f"test accuracy {m['test_accuracy']:.2%}" in printed
    for key in ("test_accuracy", "train_accuracy", "history", "wall_time_s", "backend", "seed",
                "config"):
        assert key in m, key
    assert m["backend"] == "numpy" and m["seed"] == 1 and m["epochs_run"] == 3
    assert m["config"]["lr"] == recipe_for("moons", "mlp").lr
    assert len(m["history"]["train_loss"]) == 3 and len(m["history"]["val_accuracy"]) == 3
    assert m["wall_time_s"] > 0
    for name in ("curves.png", "boundary.png"):
        with open(out / name, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    # the checkpoint holds the trained model: its test accuracy is the one reported
    model = build_model("mlp", (2,), 2, hidden=tuple(m["config"]["hidden"]))
    model.load_state_dict(edu_nn.load(str(out / "model.npz")))
    model.eval()
    x, y = get_arrays("moons", "test", seed=1)
    with edu_nn.no_grad():
        predicted = model(edu_nn.tensor(x)).argmax(dim=1).numpy()
    assert m["test_accuracy"] == pytest.approx(float(np.mean(predicted == y)))


def test_train_on_every_backend(tmp_path, backend_name):
    rc, out = _train(tmp_path, "--data", "moons", "--epochs", "2", "--backend", backend_name,
                     "--no-plots")
    assert rc == 0
    m = _metrics(out)
    assert m["backend"] == backend_name and m["config"]["model"] == "mlp"   # the default
    assert 0.5 < m["test_accuracy"] <= 1.0
    assert not (out / "curves.png").exists()


def test_same_seed_same_run(tmp_path):
    a = run_experiment("spirals", "mlp", epochs=3, seed=4, progress=False, log_every=0)
    b = run_experiment("spirals", "mlp", epochs=3, seed=4, progress=False, log_every=0)
    c = run_experiment("spirals", "mlp", epochs=3, seed=5, progress=False, log_every=0)
    assert a.metrics["history"]["train_loss"] == b.metrics["history"]["train_loss"]
    assert a.metrics["history"]["train_loss"] != c.metrics["history"]["train_loss"]


def test_mnist1d_cnn_runs_with_its_recipe(tmp_path):
    rc, out = _train(tmp_path, "--data", "mnist1d", "--epochs", "1", "--no-plots")
    assert rc == 0
    m = _metrics(out)
    cfg = m["config"]
    assert cfg["model"] == "cnn" and cfg["input_shape"] == [1, 40]
    assert cfg["augment"] == "shift" and cfg["schedule"] == "cosine"
    assert m["sizes"] == {"train": 3600, "val": 400, "test": 1000}
    assert m["test_accuracy"] > 0.3            # one epoch: far better than chance (0.1)


def test_regression_reports_mse(tmp_path):
    rc, out = _train(tmp_path, "--data", "regression1d", "--epochs", "5", "--no-plots")
    assert rc == 0
    m = _metrics(out)
    assert m["test_accuracy"] is None and m["config"]["loss"] == "MSELoss"
    assert m["test_mse"] == pytest.approx(m["test_loss"])


def test_python_dash_m_runs_train(tmp_path):
    out = tmp_path / "pm"
    proc = subprocess.run([sys.executable, "-m", "edu_nn", "train", "--data", "xor",
                           "--epochs", "2", "--out", str(out), "--no-plots"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "test accuracy" in proc.stdout
    assert (out / "metrics.json").exists() and (out / "model.npz").exists()


def test_progress_bar_when_asked(tmp_path, capsys):
    pytest.importorskip("tqdm")
    rc, _ = _train(tmp_path, "--data", "xor", "--epochs", "2", "--no-plots")
    assert rc == 0
    rc = main(["train", "--data", "xor", "--epochs", "2", "--no-plots", "--progress",
               "--out", str(tmp_path / "bar")])
    assert rc == 0
    assert "epoch" in capsys.readouterr().err      # tqdm writes its bars to stderr


def test_without_matplotlib_the_numbers_are_still_written(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)   # import fails
    rc, out = _train(tmp_path, "--data", "xor", "--epochs", "1")
    assert rc == 0
    err = capsys.readouterr().err
    assert "no pictures" in err and "matplotlib" in err
    m = _metrics(out)
    assert m["test_accuracy"] is not None
    assert not (out / "curves.png").exists() and (out / "model.npz").exists()


def test_recipes_name_real_datasets_and_models():
    from edu_nn.data import DATASETS
    for data, model in RECIPES:
        assert data in DATASETS or data == "*", data
        assert model in MODELS or model == "*", model


# ------------------------------------------------------------------ errors
def _error(capsys, *args):
    rc = main(["train", "--no-progress", "--no-plots", *args])
    err = capsys.readouterr().err
    assert rc == 2, err
    return err


def test_unknown_dataset_lists_the_valid_ones(capsys, tmp_path):
    err = _error(capsys, "--data", "mnist2d", "--out", str(tmp_path))
    assert "unknown dataset 'mnist2d'" in err
    for name in ("digits", "mnist1d", "moons", "spirals", "regression1d"):
        assert name in err


def test_unknown_model_lists_the_valid_ones(capsys, tmp_path):
    err = _error(capsys, "--model", "resnet", "--out", str(tmp_path))
    assert "unknown model 'resnet'" in err and "logreg, mlp, cnn" in err


@pytest.mark.parametrize("flag", ["--batch-size", "--epochs"])
def test_zero_batch_size_or_epochs(capsys, tmp_path, flag):
    err = _error(capsys, "--data", "moons", flag, "0", "--out", str(tmp_path))
    assert "must be a positive integer" in err and "got 0" in err


def test_missing_mnist_folder_says_where_to_put_the_files(capsys, tmp_path):
    err = _error(capsys, "--data", "mnist", "--data-root", str(tmp_path / "nowhere"),
                 "--out", str(tmp_path / "o"))
    assert "never downloads" in err
    assert str(tmp_path / "nowhere" / "mnist" / "train-images-idx3-ubyte.gz") in err
    assert "--data-root" in err
    assert not (tmp_path / "o").exists()


def test_labels_out_of_range_for_the_model(capsys, tmp_path):
    path = tmp_path / "one_based.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.standard_normal((60, 4)).astype(np.float32),
             y=np.arange(60) % 10 + 1)                # labels 1..10, as in MATLAB
    err = _error(capsys, "--data", str(path), "--num-classes", "10", "--out", str(tmp_path))
    assert "labels out of range" in err and "from 1 to 10" in err and "10 outputs" in err
    assert "--num-classes 11" in err
    # without --num-classes the classes are counted from the labels, and it trains
    assert main(["train", "--data", str(path), "--epochs", "1", "--no-plots", "--no-progress",
                 "--out", str(tmp_path / "ok")]) == 0


def test_inputs_and_targets_of_different_lengths(capsys, tmp_path):
    path = tmp_path / "ragged.npz"
    np.savez(path, x=np.zeros((10, 3), np.float32), y=np.zeros(9, np.int64))
    err = _error(capsys, "--data", str(path), "--out", str(tmp_path))
    assert "same length in dim 0" in err and "10, 9" in err


def test_other_bad_inputs(capsys, tmp_path):
    assert "cnn needs inputs with channels" in _error(
        capsys, "--data", "moons", "--model", "cnn", "--out", str(tmp_path))
    assert "unknown backend 'numpyy'" in _error(
        capsys, "--data", "moons", "--backend", "numpyy", "--out", str(tmp_path))
    assert "no such file" in _error(capsys, "--data", str(tmp_path / "none.npz"),
                                    "--out", str(tmp_path))
    path = tmp_path / "noy.npz"
    np.savez(path, inputs=np.zeros((4, 2)))
    assert "arrays named x and y" in _error(capsys, "--data", str(path), "--out",
                                            str(tmp_path))
    assert "argument --lr: must be a positive number" in _error(
        capsys, "--data", "moons", "--lr", "-1", "--out", str(tmp_path))


# ------------------------------------------------------------------ tune
def test_tune_random_search_writes_trials(tmp_path, capsys):
    out = tmp_path / "tune"
    rc = main(["tune", "--data", "moons", "--trials", "3", "--epochs", "2",
               "--lr-range", "1e-3", "1e-1", "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    with open(out / "trials.json") as f:
        trials = json.load(f)
    assert trials["metric"] == "val_accuracy" and len(trials["trials"]) == 3
    lrs = [t["config"]["lr"] for t in trials["trials"]]
    assert all(1e-3 <= lr <= 1e-1 for lr in lrs) and len(set(lrs)) == 3
    best = max(trials["trials"], key=lambda t: t["metric"])
    assert trials["best_config"] == best["config"]
    with open(out / "trials.csv") as f:
        rows = f.read().strip().splitlines()
    assert len(rows) == 4 and "config.lr" in rows[0]
    assert "train it: edu-nn train --data moons" in printed


def test_tune_grid_and_coarse_to_fine(tmp_path):
    out = tmp_path / "grid"
    assert main(["tune", "--data", "xor", "--search", "grid", "--trials", "2", "--epochs",
                 "1", "--out", str(out)]) == 0
    with open(out / "trials.json") as f:
        lrs = sorted(t["config"]["lr"] for t in json.load(f)["trials"])
    assert lrs == pytest.approx([1e-4, 1e-1])                 # the ends of --lr-range
    out = tmp_path / "c2f"
    assert main(["tune", "--data", "xor", "--search", "coarse-to-fine", "--trials", "2",
                 "--rounds", "2", "--epochs", "1", "--out", str(out)]) == 0
    with open(out / "trials.json") as f:
        assert len(json.load(f)["trials"]) == 4


def test_tune_errors(tmp_path, capsys):
    assert main(["tune", "--data", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err
    assert main(["tune", "--data", "moons", "--val-fraction", "0", "--out",
                 str(tmp_path)]) == 2
    assert "validation set" in capsys.readouterr().err
    assert main(["tune", "--data", "moons", "--trials", "0", "--out", str(tmp_path)]) == 2
    assert "argument --trials: must be a positive integer" in capsys.readouterr().err


# ------------------------------------------------------------------ digits (Done-when)
@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_digits_mlp_reaches_97_percent(backend):
    """``edu-nn train --data digits --model mlp`` with its defaults (a 64-128-10 MLP, 40
    epochs) on the 20% test split (359 images). tests/test_digits_nn.py checks the residual
    MLP and the CNN of examples/digits_nn.py too."""
    if backend != "numpy":
        pytest.importorskip(backend)
    result = run_experiment("digits", "mlp", backend, progress=False, log_every=0)
    assert result.metrics["sizes"]["test"] == 359     # floor(0.2 * 1797)
    assert result.metrics["test_accuracy"] >= 0.97, (backend, result.metrics["test_accuracy"])


# ------------------------------------------------------------------ checked before training
@pytest.fixture
def no_training(monkeypatch):
    """Any attempt to load data or train fails the test: the checks must come first."""
    from edu_nn.train import experiment

    def forbidden(*args, **kwargs):
        raise AssertionError("the command went on to load data or train")
    monkeypatch.setattr(experiment, "run_experiment", forbidden)
    monkeypatch.setattr(experiment, "load_splits", forbidden)


BAD_VALUES = [
    (["--hidden", "0"], "argument --hidden: must be a positive integer, got 0"),
    (["--hidden", "64", "-3"], "argument --hidden: must be a positive integer, got -3"),
    (["--model", "cnn", "--data", "digits", "--channels", "0"],
     "argument --channels: must be a positive integer, got 0"),
    (["--val-fraction", "1.5"], "argument --val-fraction: must be between 0 and 1"),
    (["--val-fraction", "-0.5"], "argument --val-fraction: must be between 0 and 1"),
    (["--val-fraction", "0.9"], "argument --val-fraction: must be below 0.8 for moons"),
    (["--num-classes", "0"], "argument --num-classes: must be a positive integer, got 0"),
    (["--weight-decay", "-1"], "argument --weight-decay: must be >= 0, got -1"),
    (["--lr", "0"], "argument --lr: must be a positive number, got 0"),
    (["--epochs", "0"], "argument --epochs: must be a positive integer, got 0"),
    (["--batch-size", "-4"], "argument --batch-size: must be a positive integer, got -4"),
]


@pytest.mark.parametrize("args, message", BAD_VALUES)
def test_bad_value_is_one_line_naming_the_flag_before_training(args, message, tmp_path,
                                                               capsys, no_training):
    rc = main(["train", "--data", "moons", *args, "--out", str(tmp_path / "o")])
    captured = capsys.readouterr()
    assert rc == 2 and len(captured.err.splitlines()) == 1
    assert captured.err.startswith(f"edu-nn train: error: {message}")
    assert captured.out == "" and not (tmp_path / "o").exists()


TUNE_BAD = [
    (["--lr-range", "0.1", "0.001"], "argument --lr-range: needs 0 < LOW <= HIGH"),
    (["--lr-range", "0", "0.1"], "argument --lr-range: needs 0 < LOW <= HIGH"),
    (["--weight-decay-range", "-1", "1"], "argument --weight-decay-range: needs 0 < LOW"),
    (["--batch-sizes", "32", "0"], "argument --batch-sizes: must be a positive integer"),
    (["--n-jobs", "0"], "argument --n-jobs: must be a positive integer, got 0"),
    (["--hidden", "0"], "argument --hidden: must be a positive integer, got 0"),
    (["--val-fraction", "1.5"], "argument --val-fraction: must be between 0 and 1"),
]


@pytest.mark.parametrize("args, message", TUNE_BAD)
def test_tune_bad_value_before_any_trial(args, message, tmp_path, capsys, no_training):
    rc = main(["tune", "--data", "moons", *args, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.splitlines()) == 1
    assert err.startswith(f"edu-nn tune: error: {message}")
    assert not (tmp_path / "o").exists()


def test_exit_status_2_and_one_line_from_the_real_command(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "edu_nn", "train", "--hidden", "0", "--out",
                           str(tmp_path / "o")], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "edu-nn train: error: argument --hidden: must be a positive integer, got 0"]


@pytest.mark.parametrize("command", ["train", "tune"])
def test_out_naming_a_file_fails_before_training(command, tmp_path, capsys, no_training):
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me")
    assert main([command, "--data", "moons", "--out", str(existing)]) == 2
    err = capsys.readouterr().err
    assert err == f"edu-nn {command}: error: argument --out: {existing} is a file, not a " \
                  f"folder; give a folder name\n"
    assert existing.read_text() == "keep me"
    assert main([command, "--data", "moons", "--out", str(existing / "run")]) == 2
    assert f"cannot make the folder {existing / 'run'}: {existing} is a file" in \
        capsys.readouterr().err


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root may write into read-only folders")
@pytest.mark.parametrize("command", ["train", "tune"])
def test_out_in_a_read_only_folder_fails_before_training(command, tmp_path, capsys,
                                                         no_training):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assert main([command, "--data", "moons", "--out", str(locked / "run")]) == 2
    finally:
        locked.chmod(0o755)
    err = capsys.readouterr().err
    assert f"argument --out: cannot write in {locked} (Permission denied)" in err


def test_out_that_cannot_be_written_names_the_folder_and_why(tmp_path, capsys, monkeypatch,
                                                             no_training):
    """What a read-only folder gives as a normal user (the test above), also checked as
    root, where permissions do not stop writes: the write probe fails as the OS would."""
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    assert main(["train", "--data", "moons", "--out", str(tmp_path / "a" / "b")]) == 2
    assert capsys.readouterr().err == (
        f"edu-nn train: error: argument --out: cannot write in {tmp_path} (Permission "
        f"denied); choose a folder you can write to\n")


def test_an_earlier_run_is_never_overwritten_silently(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["train", "--data", "xor", "--epochs", "1", "--no-plots", "--no-progress"]
    assert main(args) == 0                                   # the default folder, relative
    first = tmp_path / "runs" / "xor-mlp-numpy"
    before = (first / "metrics.json").read_bytes()
    out = capsys.readouterr().out
    assert "wrote runs/xor-mlp-numpy/metrics.json, runs/xor-mlp-numpy/model.npz" in out
    assert "1 epoch on" in out and "1 epochs" not in out
    for n in (2, 3):
        assert main(args + ["--seed", str(n)]) == 0
        out = capsys.readouterr().out
        assert (f"runs/xor-mlp-numpy holds an earlier run: writing runs/xor-mlp-numpy-{n} "
                f"instead (--overwrite replaces the earlier run)") in out
        assert _metrics(tmp_path / "runs" / f"xor-mlp-numpy-{n}")["seed"] == n
    assert (first / "metrics.json").read_bytes() == before
    assert main(args + ["--seed", "7", "--overwrite"]) == 0
    assert "holds an earlier run" not in capsys.readouterr().out
    assert _metrics(first)["seed"] == 7 and not (tmp_path / "runs" / "xor-mlp-numpy-4").exists()


def test_tune_does_not_overwrite_either(tmp_path, capsys):
    args = ["tune", "--data", "xor", "--trials", "1", "--epochs", "1", "--out",
            str(tmp_path / "t")]
    assert main(args) == 0 and main(args) == 0
    assert f"{tmp_path / 't'} holds an earlier run: writing {tmp_path / 't'}-2" in \
        capsys.readouterr().out
    assert (tmp_path / "t-2" / "trials.json").exists()


def test_absolute_out_is_echoed_absolute(tmp_path, capsys):
    out = tmp_path / "abs"
    assert main(["train", "--data", "xor", "--epochs", "2", "--no-plots", "--no-progress",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out / 'metrics.json'}, {out / 'model.npz'}" in printed
    assert "2 epochs on" in printed


def test_huge_learning_rate_stops_the_run_and_says_to_lower_it(tmp_path, capsys):
    """The issue's run (--lr 1e6 trained to 12.6% with a loss of 2e12 and no word) now stops
    within the first epoch, writes no result, and suggests a smaller --lr."""
    out = tmp_path / "diverged"
    rc = main(["train", "--data", "mnist1d", "--lr", "1e6", "--no-plots", "--no-progress",
               "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 1
    assert "stopped: training diverged" in err and "at epoch 1," in err
    assert "The learning rate (--lr 1e+06) is probably too high: try --lr 100000" in err
    assert not (out / "metrics.json").exists()
    # --on-divergence warn: one warning, and the run goes to its end
    rc = main(["train", "--data", "mnist1d", "--lr", "1e6", "--epochs", "2", "--no-plots",
               "--no-progress", "--on-divergence", "warn", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 0 and err.count("edu-nn: warning:") == 1 and "diverging" in err
    assert _metrics(out)["epochs_run"] == 2


def test_one_summary_line_per_epoch_without_a_terminal(tmp_path, capsys):
    assert main(["train", "--data", "xor", "--epochs", "3", "--no-plots", "--out",
                 str(tmp_path / "o")]) == 0   # capsys: not a terminal, no --progress flag
    lines = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith("epoch ")]
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"]
    assert all("train_loss" in line and "val_accuracy" in line for line in lines)
