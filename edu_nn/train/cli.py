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
import math
import os
import sys
import tempfile
import warnings

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
    return value   # 0 and negatives: _check_values names the flag (exit status 2)


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
    p.add_argument("--overwrite", action="store_true",
                   help="write into --out even if it holds an earlier run, replacing its "
                        "files. By default a run never overwrites one, so no result is lost "
                        "by re-running a command: when OUT holds a run, the next free OUT-2, "
                        "OUT-3, ... is used, and the command says so")
    p.add_argument("--on-divergence", choices=("stop", "warn"), default="stop",
                   help="when the training loss grows over 1000 times its lowest value (and "
                        "beyond its first), i.e. training diverges: stop with advice "
                        "(default) or only warn and go on")


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
    train.add_argument("--compile", action="store_true",
                       help="compile the training step with edu_nn.compile (a static graph "
                            "replayed; one jit program on jax)")
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
    tune.add_argument("--engine", default="local", choices=("local", "ray"),
                      help="where trials run: 'local' (default: --n-jobs processes here) or "
                           "'ray' (each trial a Ray task, same seeds and results; pip install "
                           "\"edu_nn[ray]\"; docs/ray.md)")
    tune.add_argument("--address", default=None, metavar="ADDR",
                      help="--engine ray: the cluster (host:port from 'ray start --head', or "
                           "'auto'; default: a private local Ray with --n-jobs CPUs)")
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


class _UsageError(ValueError):
    """A bad command-line value, found before any data is loaded: ``flag`` names it."""

    def __init__(self, flag: str, message: str) -> None:
        super().__init__(f"argument {flag}: {message}")


def _positive(flag: str, values) -> None:
    for value in values:
        if value is not None and value < 1:
            raise _UsageError(flag, f"must be a positive integer, got {value}")


def _range(flag: str, pair) -> None:
    if pair is None:
        return
    low, high = pair
    if not (math.isfinite(low) and math.isfinite(high) and 0 < low <= high):
        raise _UsageError(flag, f"needs 0 < LOW <= HIGH (values are drawn log-uniformly), got "
                                f"{low:g} {high:g}")


def _check_values(args, command: str) -> None:
    """Everything that can be checked from the arguments alone; raises _UsageError."""
    from ..data.datasets import DATASETS
    _positive("--epochs", [args.epochs])
    _positive("--batch-size", [args.batch_size])
    _positive("--hidden", args.hidden or [])
    _positive("--channels", [args.channels])
    _positive("--num-classes", [args.num_classes])
    vf = args.val_fraction
    if vf is not None:
        if not (vf == 0 or 0 < vf < 1):
            raise _UsageError("--val-fraction", f"must be between 0 and 1 (the share of the "
                                                f"data held out for validation; 0: none), "
                                                f"got {vf:g}")
        info = DATASETS.get(args.data)
        if info is not None and not info.official_test and vf >= 0.8:
            raise _UsageError("--val-fraction", f"must be below 0.8 for {args.data} (its "
                                                f"test set keeps 20% of the data), got {vf:g}")
    if args.weight_decay is not None and not args.weight_decay >= 0:
        raise _UsageError("--weight-decay", f"must be >= 0, got {args.weight_decay:g}")
    if command == "train":
        if args.lr is not None and not (args.lr > 0 and math.isfinite(args.lr)):
            raise _UsageError("--lr", f"must be a positive number, got {args.lr:g}")
        return
    _positive("--trials", [args.trials])
    _positive("--rounds", [args.rounds])
    _positive("--n-jobs", [args.n_jobs])
    _positive("--batch-sizes", args.batch_sizes or [])
    _range("--lr-range", args.lr_range)
    _range("--weight-decay-range", args.weight_decay_range)
    if args.val_fraction == 0:
        raise _UsageError("--val-fraction", "tuning scores each trial on the validation "
                                            "set, so it must be > 0")


#: The files a run writes: a folder holding any of them holds an earlier run.
RUN_FILES = {"train": ("metrics.json", "model.npz", "curves.png", "boundary.png"),
             "tune": ("trials.csv", "trials.json", "best.json")}


def _check_writable(out: str) -> None:
    """``out`` must be a folder, or creatable as one, where files can be written."""
    path = os.path.abspath(out)
    if os.path.exists(path) and not os.path.isdir(path):
        raise _UsageError("--out", f"{out} is a file, not a folder; give a folder name")
    existing = path
    while not os.path.exists(existing):   # the nearest folder that exists: it gets the new one
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise _UsageError("--out", f"cannot make the folder {out}: {existing} is a file")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise _UsageError("--out", f"cannot write in {existing} ({exc.strerror}); choose a "
                                   f"folder you can write to") from None


def _output_folder(out: str, command: str, overwrite: bool) -> tuple[str, str | None]:
    """(the folder to write, a note to print or None). A folder holding an earlier run is
    kept, and the next free OUT-2, OUT-3, ... is used instead, unless ``overwrite``."""
    out = os.path.normpath(out)
    _check_writable(out)
    if overwrite or not os.path.isdir(out):
        return out, None
    if not any(os.path.exists(os.path.join(out, name)) for name in RUN_FILES[command]):
        return out, None
    n = 2
    while os.path.exists(f"{out}-{n}"):
        n += 1
    return f"{out}-{n}", (f"{out} holds an earlier run: writing {out}-{n} instead "
                          f"(--overwrite replaces the earlier run)")


def _prepare(args, command: str, default_out: str) -> str:
    """Check the arguments and choose the output folder, before any data is loaded;
    returns the folder. Raises _UsageError."""
    _check_values(args, command)
    out, note = _output_folder(args.out or default_out, command, args.overwrite)
    if note:
        print(f"edu-nn {command}: {note}", flush=True)
    return out


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"edu-nn: warning: {message}", file=sys.stderr)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# ------------------------------------------------------------------ train
def _run_train(args: argparse.Namespace) -> int:
    from .experiment import _is_file, recipe_for, run_experiment
    from .fit import NonFiniteLossError, TrainingDivergedError
    _resolve_model(args)
    try:
        out = _prepare(args, "train", os.path.join(
            "runs", f"{_slug(args.data)}-{args.model}-{args.backend}"))
    except _UsageError as exc:
        return _fail("train", exc)
    print(f"edu-nn train: {args.model} on {args.data}, {args.backend} backend, seed "
          f"{args.seed}", flush=True)
    try:
        with warnings.catch_warnings():   # fit's divergence warning, as one line
            warnings.showwarning = _show_warning
            result = run_experiment(**_options(args), lr=args.lr, seed=args.seed, out=out,
                                    progress=args.progress, divergence=args.on_divergence,
                                    compile=args.compile)
    except NonFiniteLossError as exc:
        print(f"edu-nn train: {exc}", file=sys.stderr)
        return 1
    except TrainingDivergedError as exc:
        lr = args.lr or recipe_for("file" if _is_file(args.data) else args.data, args.model).lr
        print(f"edu-nn train: stopped: training diverged: the loss reached {exc.value:.3g} at "
              f"epoch {exc.epoch}, batch {exc.batch}, over 1000 times its lowest value so far "
              f"({exc.best:.3g}). The learning rate (--lr {lr:g}) is probably too high: try "
              f"--lr {lr / 10:g} or smaller (--on-divergence warn only warns).",
              file=sys.stderr)
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
    print(f"{score}; {_plural(m['epochs_run'], 'epoch')} on {sizes['train']} samples in "
          f"{m['wall_time_s']:.1f} s)")
    # the paths as the user gave them: an absolute --out stays absolute
    print(f"wrote {', '.join(result.files.values())}")
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
    options["divergence"] = args.on_divergence
    try:
        out = _prepare(args, "tune", os.path.join(
            "runs", f"tune-{_slug(args.data)}-{args.model}-{args.backend}"))
    except _UsageError as exc:
        return _fail("tune", exc)
    try:
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
    if args.address is not None and args.engine != "ray":
        return _fail("tune", ValueError("--address is the Ray cluster of --engine ray"))
    common = dict(metric=metric, n_jobs=args.n_jobs, out_dir=out, engine=args.engine,
                  address=args.address)
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
    except (RuntimeError, ConnectionError, *_input_errors()) as exc:  # Connection: Ray's
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
