"""One training run from names: what ``edu-nn train`` does, callable from Python.

    result = run_experiment(data="mnist1d", model="cnn", backend="numpy", out="runs/cnn")
    result.metrics["test_accuracy"]      # 0.96...
    result.model, result.history         # the trained nn.Module and fit's History

Steps, in the order a course teaches them:
  1. load the dataset's train / validation / test splits (:mod:`edu_nn.data.datasets`);
     ``data`` may also be a ``.npz`` file with arrays ``x``, ``y`` (and optionally
     ``x_test``, ``y_test``);
  2. check the labels fit the model's outputs; seed; build the model (identical initial
     weights on every backend);
  3. ``fit`` with Adam, the recipe's schedule and augmentation, a validation pass per epoch;
  4. evaluate on the training set (eval mode, no augmentation) and on the test set, once;
  5. with ``out``: write ``metrics.json`` and the weights ``model.npz`` (``edu_nn.save``).
     The pictures (curves.png, boundary.png) are drawn by the command (edu_nn.train.cli),
     which sits above edu_nn.viz; this module stays below it.

Defaults come from :data:`RECIPES` (per dataset and model); any argument given overrides
them. The test set is never used to choose anything.
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from .. import __version__, optim
from ..creation import Generator, manual_seed
from ..nn import CrossEntropyLoss, MSELoss
from .callbacks import LRSchedulerCallback
from .fit import evaluate, fit
from .models import MODELS, build_model

__all__ = ["Recipe", "RECIPES", "recipe_for", "default_model", "run_experiment", "ExperimentResult",
           "load_splits", "check_labels"]


@dataclass(frozen=True)
class Recipe:
    """Default hyperparameters of one (dataset, model) pair.

    schedule: "none" or "cosine" (the lr decays to 0 along half a cosine, stepped after
    every batch). augment: "none", "shift" (circular shift of signals by up to 4 positions,
    MNIST-1D's own kind of translation) or "shift2d" (images by up to 1 pixel).
    """
    epochs: int
    lr: float
    batch_size: int
    schedule: str = "none"
    augment: str = "none"
    weight_decay: float = 0.0
    hidden: tuple[int, ...] = (100, 100)
    channels: int = 32


_TOY = Recipe(epochs=100, lr=1e-2, batch_size=32, hidden=(64, 64))
_MNIST = Recipe(epochs=5, lr=1e-3, batch_size=128, schedule="cosine", hidden=(256, 128))

#: (dataset, model) -> Recipe; "*" matches any name. The MNIST-1D ones follow the paper's
#: protocol (Adam, lr 1e-2, batch 100); the CNN adds BatchNorm, a cosine schedule and
#: circular-shift augmentation, which take it from ~92.5% to ~96-97% in 30 epochs.
RECIPES: dict[tuple[str, str], Recipe] = {
    ("mnist1d", "logreg"): Recipe(epochs=20, lr=1e-2, batch_size=100),
    ("mnist1d", "mlp"): Recipe(epochs=50, lr=1e-2, batch_size=100),
    ("mnist1d", "cnn"): Recipe(epochs=30, lr=1e-2, batch_size=100, schedule="cosine",
                               augment="shift"),
    ("digits", "logreg"): Recipe(epochs=50, lr=1e-2, batch_size=64),
    ("digits", "mlp"): Recipe(epochs=40, lr=3e-3, batch_size=64, schedule="cosine",
                              hidden=(128,)),
    ("digits", "cnn"): Recipe(epochs=15, lr=3e-3, batch_size=64, schedule="cosine",
                              channels=16),
    ("mnist", "*"): _MNIST,
    ("fashion_mnist", "*"): _MNIST,
    ("regression1d", "*"): Recipe(epochs=300, lr=1e-2, batch_size=32, schedule="cosine",
                                  hidden=(64, 64)),
    ("*", "*"): _TOY,
}


def recipe_for(data: str, model: str) -> Recipe:
    """The default :class:`Recipe` of ``data`` (a dataset name, or "file" for a .npz)."""
    for key in ((data, model), (data, "*"), ("*", model), ("*", "*")):
        if key in RECIPES:
            return RECIPES[key]
    raise KeyError((data, model))  # unreachable: ("*", "*") is always there


# ------------------------------------------------------------------ data
@dataclass
class Splits:
    """NumPy arrays of the three splits (val may be None) and what the model needs."""
    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray] | None
    test: tuple[np.ndarray, np.ndarray]
    task: str
    num_outputs: int
    input_shape: tuple[int, ...]
    name: str


def _is_file(data: str) -> bool:
    return data.endswith(".npz") or os.sep in data or "/" in data


def _load_file(path: str, seed: int, val_fraction: float):
    """x, y (and optionally x_test, y_test) from a .npz: split 60/20/20 (or the given
    val_fraction) when there is no test set."""
    from ..data import TensorDataset, train_val_test_split
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--data {path}: no such file; give a dataset name or a .npz "
                                f"file with arrays x and y (and optionally x_test, y_test)")
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    missing = {"x", "y"} - set(arrays)
    if missing:
        raise ValueError(f"{path}: a .npz dataset needs arrays named x and y (and optionally "
                         f"x_test, y_test); it has {sorted(arrays)}")
    x, y = arrays["x"], arrays["y"]
    TensorDataset(x, y)   # one clear message when the inputs and targets differ in length
    classes = y.dtype.kind in "iub"
    strat = True if classes else None
    if "x_test" in arrays or "y_test" in arrays:
        test = (arrays.get("x_test"), arrays.get("y_test"))
        if test[0] is None or test[1] is None:
            raise ValueError(f"{path}: give both x_test and y_test, or neither")
        TensorDataset(*test)
        if val_fraction == 0:
            return (x, y), None, test
        train, val = train_val_test_split((x, y), (1 - val_fraction, val_fraction),
                                          seed=seed, stratify=strat)
        return train, val, test
    if val_fraction == 0:
        train, test = train_val_test_split((x, y), (0.8, 0.2), seed=seed, stratify=strat)
        return train, None, test
    train, val, test = train_val_test_split((x, y), (0.8 - val_fraction, val_fraction, 0.2),
                                            seed=seed, stratify=strat)
    return train, val, test


def load_splits(data: str, seed: int = 0, val_fraction: float | None = None, root=None,
                num_classes: int | None = None) -> Splits:
    """The train/val/test arrays of a dataset name (see ``edu_nn.data.DATASETS``) or a .npz
    file. ``val_fraction=0`` trains on train+val and validates on nothing."""
    from ..data.datasets import DATASETS, get_arrays
    if _is_file(data):
        vf = 0.2 if val_fraction is None else val_fraction
        train, val, test = _load_file(data, seed, vf)
        y = train[1]
        task = "classification" if y.dtype.kind in "iub" else "regression"
        name = "file"
        if task == "classification":
            labels = np.concatenate([s[1] for s in (train, val, test) if s is not None])
            outputs = int(labels.max()) + 1 if num_classes is None else num_classes
        else:
            outputs = int(np.prod(y.shape[1:], dtype=np.int64)) or 1
    else:
        if data not in DATASETS:
            raise ValueError(f"unknown dataset {data!r}; the datasets are: "
                             f"{', '.join(DATASETS)} (or a .npz file with arrays x and y)")
        info = DATASETS[data]
        name, task = data, info.task
        if val_fraction == 0:
            train, val = get_arrays(data, "trainval", seed, root), None
        else:
            train = get_arrays(data, "train", seed, root, val_fraction)
            val = get_arrays(data, "val", seed, root, val_fraction)
        test = get_arrays(data, "test", seed, root, val_fraction)
        outputs = (num_classes or info.num_classes) if task == "classification" else 1
    if val is not None and len(val[1]) == 0:
        val = None
    return Splits(train, val, test, task, int(outputs), tuple(train[0].shape[1:]), name)


def check_labels(splits: Splits) -> None:
    """Classification targets must be integer labels in [0, num_outputs): say which
    are not, and how to fix it, before any training."""
    if splits.task != "classification":
        return
    for part, arrays in (("train", splits.train), ("validation", splits.val),
                         ("test", splits.test)):
        if arrays is None or len(arrays[1]) == 0:
            continue
        y = arrays[1]
        if y.dtype.kind not in "iu":
            raise ValueError(f"the {part} targets have dtype {y.dtype}; classification needs "
                             f"integer class labels 0..{splits.num_outputs - 1}")
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= splits.num_outputs:
            raise ValueError(
                f"labels out of range for the model's output: the {part} labels run from "
                f"{low} to {high}, but the model has {splits.num_outputs} outputs, one per "
                f"class 0..{splits.num_outputs - 1} (cross-entropy needs 0 <= label < number "
                f"of classes). Relabel the classes as 0..K-1, or pass --num-classes "
                f"{max(high + 1, splits.num_outputs)}")


# ------------------------------------------------------------------ the run
@dataclass
class ExperimentResult:
    """``model`` (trained, eval mode), ``history`` (fit's), ``metrics`` (what metrics.json
    holds), ``splits`` (the data), ``out`` (the folder written, or None) and ``files``
    (name -> path of what was written)."""
    model: Any
    history: Any
    metrics: dict
    splits: Splits
    out: str | None = None
    files: dict = field(default_factory=dict)


def _augmentation(kind: str, input_shape, seed: int):
    from ..data.transforms import RandomShift
    if kind == "none":
        return None
    if kind == "shift":
        return RandomShift(4, dims=1, circular=True, generator=Generator(seed + 1))
    if kind == "shift2d":
        return RandomShift((1, 1), generator=Generator(seed + 1))
    raise ValueError(f"unknown augmentation {kind!r}; use 'none', 'shift' or 'shift2d'")


def _json_default(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def default_model(data: str) -> str:
    """cnn for datasets of signals or images, mlp for flat feature vectors (and files)."""
    from ..data.datasets import DATASETS
    info = DATASETS.get(data)
    return "cnn" if info is not None and len(info.input_shape) >= 2 else "mlp"


def run_experiment(data: str = "mnist1d", model: str | None = None, backend: str = "numpy",
                   epochs: int | None = None, lr: float | None = None,
                   batch_size: int | None = None, seed: int = 0, out=None,
                   val_fraction: float | None = None, schedule: str | None = None,
                   augment: str | None = None, weight_decay: float | None = None,
                   hidden: tuple[int, ...] | None = None, channels: int | None = None,
                   num_classes: int | None = None, root=None, progress: bool | None = None,
                   log_every: int | None = None, divergence: str | None = "stop",
                   compile: bool = False) -> ExperimentResult:
    """Train ``model`` on ``data`` and evaluate it; see the module doc. Arguments left as
    None take the value of :func:`recipe_for` (data, model); ``model=None`` picks
    :func:`default_model` (data). ``divergence`` is fit's: "stop" raises
    :class:`~edu_nn.train.fit.TrainingDivergedError` when the loss grows 1000-fold over its
    best, "warn" only warns. ``compile=True`` trains with fit(compile=True) (edu_nn.compile).
    Without a terminal (and with ``progress`` and ``log_every``
    left as None) each epoch prints one summary line instead of progress bars."""
    start = time.perf_counter()
    model = default_model(data) if model is None else model
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; the models are: {', '.join(MODELS)}")
    recipe = recipe_for("file" if _is_file(data) else data, model)
    overrides = {k: v for k, v in dict(epochs=epochs, lr=lr, batch_size=batch_size,
                                       schedule=schedule, augment=augment,
                                       weight_decay=weight_decay, hidden=hidden,
                                       channels=channels).items() if v is not None}
    recipe = replace(recipe, **overrides)
    _check_recipe(recipe)
    from ..backend_selection import get_backend
    get_backend(backend)  # an unknown or missing backend fails here, with its own message

    splits = load_splits(data, seed, val_fraction, root, num_classes)
    check_labels(splits)
    classification = splits.task == "classification"
    manual_seed(seed)  # the initial weights, drawn in NumPy: the same on every backend
    options = ({"hidden": recipe.hidden} if model == "mlp"
               else {"channels": recipe.channels} if model == "cnn" else {})
    net = build_model(model, splits.input_shape, splits.num_outputs, **options)
    net = net.to(backend=backend)
    loss_fn = CrossEntropyLoss() if classification else MSELoss()
    metrics = ("accuracy",) if classification else ("mse",)

    from ..data import DataLoader, TensorDataset, TransformDataset
    train_set = TensorDataset(*splits.train)
    transform = _augmentation(recipe.augment, splits.input_shape, seed)
    if transform is not None:
        train_set = TransformDataset(train_set, transform)
    # A last batch of one sample breaks BatchNorm (no variance): drop it (it is a different
    # sample each epoch, since the order is shuffled).
    drop_last = len(splits.train[1]) % recipe.batch_size == 1
    train_loader = DataLoader(train_set, batch_size=recipe.batch_size, shuffle=True,
                              generator=seed, drop_last=drop_last, backend=backend)

    def loader(arrays):
        return DataLoader(TensorDataset(*arrays), batch_size=1000, backend=backend)
    val_loader = loader(splits.val) if splits.val is not None else None

    optimizer = optim.Adam(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    callbacks = []
    if recipe.schedule == "cosine":
        steps = recipe.epochs * len(train_loader)
        callbacks.append(LRSchedulerCallback(
            optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps), interval="batch"))
    if log_every is None and progress is None and not sys.stderr.isatty():
        log_every = 1  # no progress bar (a log file, CI): one line per epoch
    history = fit(net, loss_fn, optimizer, train_loader, val_loader, epochs=recipe.epochs,
                  callbacks=callbacks, metrics=metrics, progress=progress, log_every=log_every,
                  divergence=divergence, compile=compile)

    key = "accuracy" if classification else "mse"
    train_eval = evaluate(net, loader(splits.train), loss_fn, metrics)
    test_eval = evaluate(net, loader(splits.test), loss_fn, metrics)
    wall = time.perf_counter() - start
    last = {k: v[-1] for k, v in history.history.items()}
    result = {
        "test_accuracy": test_eval.get("accuracy"), "train_accuracy": train_eval.get("accuracy"),
        "val_accuracy": last.get("val_accuracy"),
        "test_loss": test_eval["loss"], "train_loss": train_eval["loss"],
        "val_loss": last.get("val_loss"),
        **({} if classification else {"test_mse": test_eval["mse"],
                                      "train_mse": train_eval["mse"]}),
        "wall_time_s": wall, "train_time_s": history.wall_time,
        "backend": backend, "seed": seed, "epochs_run": history.epochs,
        "config": {"data": data, "model": model, "backend": backend, "seed": seed,
                   "val_fraction": val_fraction, "optimizer": "Adam", **asdict(recipe),
                   "task": splits.task, "input_shape": list(splits.input_shape),
                   "num_outputs": splits.num_outputs, "loss": type(loss_fn).__name__,
                   "drop_last": drop_last, "compile": compile},
        "sizes": {"train": len(splits.train[1]),
                  "val": 0 if splits.val is None else len(splits.val[1]),
                  "test": len(splits.test[1])},
        "history": history.to_dict()["history"],
        "stop_reason": history.stop_reason,
        "edu_nn_version": __version__,
        "metric": key,
    }
    files = _write(out, net, result) if out is not None else {}
    return ExperimentResult(net, history, result, splits,
                            None if out is None else os.fspath(out), files)


def _check_recipe(r: Recipe) -> None:
    for name in ("epochs", "batch_size"):
        value = getattr(r, name)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            hint = (" (the number of samples in one minibatch)" if name == "batch_size"
                    else " (passes over the training set)")
            raise ValueError(f"{name.replace('_', ' ')} must be a positive integer{hint}, "
                             f"got {value!r}")
    sizes = {"hidden layer width": r.hidden, "channels": (r.channels,)}
    for name, values in sizes.items():
        for value in values:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"every {name} must be a positive integer (a layer needs at "
                                 f"least one unit), got {value!r}")
    if not (isinstance(r.lr, (int, float)) and r.lr > 0 and np.isfinite(r.lr)):
        raise ValueError(f"the learning rate must be a positive number, got {r.lr!r}")
    if r.schedule not in ("none", "cosine"):
        raise ValueError(f"unknown schedule {r.schedule!r}; use 'none' or 'cosine'")
    if r.augment not in ("none", "shift", "shift2d"):
        raise ValueError(f"unknown augmentation {r.augment!r}; use 'none', 'shift' (signals) "
                         f"or 'shift2d' (images)")
    if r.weight_decay < 0:
        raise ValueError(f"weight decay must be >= 0, got {r.weight_decay!r}")


def _clean(value):
    """Strict JSON: non-finite floats become None."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value


def _write(out, net, result: dict) -> dict:
    from ..serialization import save
    os.makedirs(out, exist_ok=True)
    files = {"metrics": os.path.join(out, "metrics.json"),
             "checkpoint": os.path.join(out, "model.npz")}
    save(net.state_dict(), files["checkpoint"])
    result["checkpoint"] = "model.npz"
    with open(files["metrics"], "w") as f:
        json.dump(_clean(result), f, indent=1, default=_json_default, allow_nan=False)
    return files

