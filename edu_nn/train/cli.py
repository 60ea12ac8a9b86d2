"""``edu-nn train`` and ``edu-nn tune``: the training job and a small hyperparameter search.

    edu-nn train --data mnist1d --model cnn                 # ~96% test accuracy in seconds
    edu-nn train --data moons --model mlp --backend torch --epochs 50 --out runs/moons
    edu-nn tune --data digits --model mlp --trials 8 --epochs 10 --out runs/tune

``edu_nn.cli`` registers both with :func:`add_train_parsers`. The work is done by
:func:`edu_nn.train.experiment.run_experiment` (train) and :mod:`edu_nn.train.tuner` (tune);
this module only turns arguments into calls and errors into messages.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

__all__ = ["add_train_parsers", "tune_trial"]

_DATA_HELP = ("a dataset name ({names}) or a .npz file with arrays x, y (and optionally "
              "x_test, y_test; integer y: classification, float y: regression)")


def _dataset_names() -> str:
    from ..data.datasets import DATASETS
    return ", ".join(DATASETS)


def _model_names() -> str:
    from .models import MODELS
    return ", ".join(MODELS)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    return value   # 0 and negatives are checked by run_experiment, with a message that teaches


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="mnist1d", metavar="NAME|FILE.npz",
                   help=_DATA_HELP.format(names=_dataset_names()) + " (default: mnist1d)")
    p.add_argument("--model", default=None, metavar="NAME",
                   help=f"one of: {_model_names()} (default: cnn for signals and images "
                        f"(mnist1d, digits, mnist), mlp for the others)")
    p.add_argument("--backend", default="numpy",
                   help="the array backend: numpy (default), torch, jax, ...")
    p.add_argument("--epochs", type=_positive_int, default=None,
                   help="passes over the training set (default: the recipe's)")
    p.add_argument("--batch-size", type=_positive_int, default=None,
                   help="samples per minibatch (default: the recipe's)")
    p.add_argument("--seed", type=int, default=0,
                   help="fixes the split, the initial weights, the batch order and the "
                        "augmentation (default: 0)")
    p.add_argument("--val-fraction", type=float, default=None,
                   help="share of the data held out for validation (default 0.1 of the "
                        "official training set for mnist1d/mnist, 0.2 for the others; 0: "
                        "train on train+val, no validation)")
    p.add_argument("--schedule", choices=("none", "cosine"), default=None,
                   help="learning-rate schedule (default: the recipe's)")
    p.add_argument("--augment", choices=("none", "shift", "shift2d"), default=None,
                   help="data augmentation: random circular shifts of signals (shift) or "
                        "shifts of images by one pixel (shift2d) (default: the recipe's)")
    p.add_argument("--weight-decay", type=float, default=None, help="Adam's L2 penalty")
    p.add_argument("--hidden", type=int, nargs="+", default=None, metavar="WIDTH",
                   help="hidden layer widths of the mlp (default: the recipe's)")
    p.add_argument("--channels", type=int, default=None, help="conv channels of the cnn")
    p.add_argument("--num-classes", type=int, default=None,
                   help="outputs of a classifier (default: the dataset's number of classes)")
    p.add_argument("--data-root", default=None, metavar="DIR",
                   help="where MNIST / Fashion-MNIST files are (default: $EDU_NN_DATA or "
                        "~/.cache/edu_nn)")


def add_train_parsers(subparsers) -> None:
    """Add the ``train`` and ``tune`` subcommands to ``edu-nn``'s subparsers."""
    from .experiment import RECIPES
    recipes = "; ".join(f"{d}/{m}: {r.epochs} epochs, lr {r.lr:g}, batch {r.batch_size}"
                        + (f", {r.schedule}" if r.schedule != "none" else "")
                        + (f", augment {r.augment}" if r.augment != "none" else "")
                        for (d, m), r in RECIPES.items())
    train = subparsers.add_parser(
        "train", help="train a model on a dataset and report its test accuracy",
        description="Train --model on --data with Adam on --backend, show the progress, "
                    "print the test accuracy and write OUT/metrics.json (test and train "
                    "accuracy, per-epoch history, wall time, backend, seed, config), "
                    "OUT/model.npz (load with edu_nn.load) and OUT/curves.png. Defaults per "
                    f"dataset and model ('*' = any): {recipes}.")
    _add_common(train)
    train.add_argument("--lr", type=float, default=None,
                       help="Adam's learning rate (default: the recipe's)")
    train.add_argument("--out", default=None, metavar="DIR",
                       help="output folder (default: runs/DATA-MODEL-BACKEND)")
    bars = train.add_mutually_exclusive_group()
    bars.add_argument("--progress", dest="progress", action="store_true", default=None,
                      help="always show progress bars (default: only in a terminal)")
    bars.add_argument("--no-progress", dest="progress", action="store_false",
                      help="never show progress bars")
    train.add_argument("--no-plots", dest="plots", action="store_false",
                       help="skip curves.png (no matplotlib needed)")
    train.set_defaults(run=_run_train)

    tune = subparsers.add_parser(
        "tune", help="search learning rates (and more) on the validation set",
        description="Train --model on --data once per trial, each with a configuration "
                    "drawn from the search space, score it on the validation set (never the "
                    "test set), and write OUT/trials.csv and OUT/trials.json. Random search "
                    "draws the learning rate log-uniformly (as many trials per decade); grid "
                    "search spreads --trials values evenly in log scale; coarse-to-fine runs "
                    "--rounds rounds of random search, each around the best trial so far.")
    _add_common(tune)
    tune.add_argument("--search", choices=("random", "grid", "coarse-to-fine"),
                      default="random", help="search strategy (default: random)")
    tune.add_argument("--trials", type=int, default=8,
                      help="trials (per round for coarse-to-fine; default: 8)")
    tune.add_argument("--rounds", type=int, default=2, help="rounds of coarse-to-fine")
    tune.add_argument("--lr-range", type=float, nargs=2, default=(1e-4, 1e-1),
                      metavar=("LOW", "HIGH"), help="learning rates (default: 1e-4 1e-1)")
    tune.add_argument("--weight-decay-range", type=float, nargs=2, default=None,
                      metavar=("LOW", "HIGH"), help="also search the weight decay "
                                                    "(log-uniform)")
    tune.add_argument("--batch-sizes", type=int, nargs="+", default=None, metavar="B",
                      help="also search the batch size among these values")
    tune.add_argument("--n-jobs", type=int, default=1, help="parallel processes (default 1)")
    tune.add_argument("--out", default=None, metavar="DIR",
                      help="output folder (default: runs/tune-DATA-MODEL-BACKEND)")
    tune.set_defaults(run=_run_tune)


def _options(args) -> dict:
    """run_experiment's arguments from the command line (None: the recipe's default)."""
    hidden = tuple(args.hidden) if args.hidden else None
    return dict(data=args.data, model=args.model, backend=args.backend, epochs=args.epochs,
                batch_size=args.batch_size, val_fraction=args.val_fraction,
                schedule=args.schedule, augment=args.augment, weight_decay=args.weight_decay,
                hidden=hidden, channels=args.channels, num_classes=args.num_classes,
                root=args.data_root)


def _resolve_model(args) -> None:
    from .experiment import default_model
    if args.model is None:
        args.model = default_model(args.data)


def _fail(command: str, exc: BaseException) -> int:
    print(f"edu-nn {command}: error: {exc}", file=sys.stderr)
    return 2


def _input_errors():
    from ..backends.base import BackendError
    return (ValueError, FileNotFoundError, IndexError, TypeError, BackendError)


# ------------------------------------------------------------------ train
def _run_train(args: argparse.Namespace) -> int:
    from .experiment import run_experiment
    from .fit import NonFiniteLossError
    _resolve_model(args)
    out = args.out or os.path.join("runs", f"{_slug(args.data)}-{args.model}-{args.backend}")
    print(f"edu-nn train: {args.model} on {args.data}, {args.backend} backend, seed "
          f"{args.seed}", flush=True)
    try:
        result = run_experiment(**_options(args), lr=args.lr, seed=args.seed, out=out,
                                progress=args.progress)
    except NonFiniteLossError as exc:
        print(f"edu-nn train: {exc}", file=sys.stderr)
        return 1
    except _input_errors() as exc:
        return _fail("train", exc)
    if args.plots:
        try:
            result.files.update(_plot(out, result))
        except ImportError as exc:   # matplotlib missing: the numbers are written anyway
            print(f"edu-nn train: no pictures: {exc}", file=sys.stderr)
    m = result.metrics
    sizes = m["sizes"]
    if m["test_accuracy"] is not None:
        score = (f"test accuracy {m['test_accuracy']:.2%}  (train {m['train_accuracy']:.2%}"
                 + (f", val {m['val_accuracy']:.2%}" if m["val_accuracy"] is not None else ""))
    else:
        score = f"test MSE {m['test_mse']:.4g}  (train {m['train_mse']:.4g}"
    print(f"{score}; {m['epochs_run']} epochs on {sizes['train']} samples in "
          f"{m['wall_time_s']:.1f} s)")
    print(f"wrote {', '.join(os.path.relpath(p) for p in result.files.values())}")
    return 0


def _plot(out: str, result) -> dict:
    """curves.png (learning curves) and, for 2-d inputs, boundary.png."""
    from ..viz import plot_decision_boundary, plot_learning_curves
    m, splits = result.metrics, result.splits
    files = {"curves": os.path.join(out, "curves.png")}
    score = (f"accuracy {m['test_accuracy']:.1%}" if m["test_accuracy"] is not None
             else f"MSE {m['test_loss']:.4g}")
    plot_learning_curves(result.history, files["curves"],
                         title=f"{m['config']['model']} on {splits.name} ({m['backend']}): "
                               f"test {score}")
    if splits.input_shape == (2,) and splits.task == "classification":
        files["boundary"] = os.path.join(out, "boundary.png")
        plot_decision_boundary(result.model, *splits.test, path=files["boundary"])
    return files


def _slug(data: str) -> str:
    return os.path.splitext(os.path.basename(data))[0] if data.endswith(".npz") else data


# ------------------------------------------------------------------ tune
def tune_trial(config: dict, seed: int) -> dict:
    """One trial of ``edu-nn tune`` (module level, so worker processes can import it):
    train with ``config`` and return the validation (and training) numbers."""
    from .experiment import run_experiment
    result = run_experiment(**config, seed=seed, progress=False, log_every=0)
    m = result.metrics
    return {k: m[k] for k in ("val_accuracy", "val_loss", "train_loss", "train_accuracy",
                              "wall_time_s") if m.get(k) is not None}


def _run_tune(args: argparse.Namespace) -> int:
    from . import tuner
    from .experiment import load_splits
    _resolve_model(args)
    options = _options(args)
    if args.val_fraction == 0:
        return _fail("tune", ValueError("tuning scores each trial on the validation set: "
                                        "--val-fraction must be > 0"))
    try:
        for name, value in (("--trials", args.trials), ("--rounds", args.rounds),
                            ("--n-jobs", args.n_jobs)):
            if value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}")
        low, high = args.lr_range
        fixed = {k: v for k, v in options.items() if v is not None}
        space = {**fixed, "lr": tuner.loguniform(low, high)}
        if args.weight_decay_range:
            space["weight_decay"] = tuner.loguniform(*args.weight_decay_range)
        if args.batch_sizes:
            space["batch_size"] = tuner.choice(list(args.batch_sizes))
        # fail fast on a bad name, a missing folder, ... before any trial runs
        splits = load_splits(args.data, args.seed, args.val_fraction, args.data_root,
                             args.num_classes)
    except _input_errors() as exc:
        return _fail("tune", exc)
    metric = "val_accuracy" if splits.task == "classification" else "val_loss"
    out = args.out or os.path.join("runs", f"tune-{_slug(args.data)}-{args.model}-"
                                           f"{args.backend}")
    common = dict(metric=metric, n_jobs=args.n_jobs, out_dir=out)
    print(f"edu-nn tune: {args.search} search, {args.model} on {args.data} "
          f"({args.backend}), optimising {metric}", flush=True)
    try:
        if args.search == "grid":
            import numpy as np
            grid = dict(fixed)
            grid["lr"] = [float(v) for v in np.geomspace(low, high, args.trials)]
            for name in ("weight_decay", "batch_size"):
                if name in space:
                    spec = space[name]
                    grid[name] = (list(spec.options) if isinstance(spec, tuner.choice) else
                                  [float(v) for v in np.geomspace(spec.low, spec.high, 3)])
            result = tuner.grid_search(tune_trial, grid, seed=args.seed, **common)
        elif args.search == "random":
            result = tuner.random_search(tune_trial, space, n_trials=args.trials,
                                         seed=args.seed, **common)
        else:
            result = tuner.coarse_to_fine(tune_trial, space, rounds=args.rounds,
                                          trials_per_round=args.trials, seed=args.seed,
                                          **common)
    except (RuntimeError, *_input_errors()) as exc:
        return _fail("tune", exc)
    searched = [k for k in ("lr", "weight_decay", "batch_size") if k in space]
    for t in sorted(result.trials, key=lambda t: -1e300 if t["metric"] is None
                    else (t["metric"] if result.mode == "min" else -t["metric"])):
        values = "  ".join(f"{k} {t['config'][k]:.3g}" if isinstance(t["config"][k], float)
                           else f"{k} {t['config'][k]}" for k in searched)
        shown = "failed: " + str(t["error"]) if t["status"] != "ok" else f"{t['metric']:.4f}"
        print(f"  trial {t['trial']:>3}  {values}  {metric} {shown}")
    best = result.best_config
    flags = " ".join(f"--{k.replace('_', '-')} {best[k]:.3g}" if isinstance(best[k], float)
                     else f"--{k.replace('_', '-')} {best[k]}" for k in searched)
    print(f"best: {metric} {result.best_trial['metric']:.4f} with {flags}")
    print(f"train it: edu-nn train --data {args.data} --model {args.model} --backend "
          f"{args.backend} {flags}" + (f" --epochs {args.epochs}" if args.epochs else ""))
    print(f"wrote {os.path.join(out, 'trials.csv')}, {os.path.join(out, 'trials.json')}")
    with open(os.path.join(out, "best.json"), "w") as f:
        json.dump({"metric": metric, "value": result.best_trial["metric"],
                   "config": best}, f, indent=1)
    return 0
