"""``fit`` and ``evaluate``: the training loop every course writes by hand, written once.

    history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-3),
                  train_loader, val_loader, epochs=20,
                  scheduler=optim.lr_scheduler.ReduceLROnPlateau(opt, patience=2),
                  callbacks=[EarlyStopping(patience=5)])
    evaluate(model, test_loader, nn.CrossEntropyLoss())   # {"loss": 0.21, "accuracy": 0.94}

One epoch of ``fit`` is exactly this loop (so nothing is hidden from a student):

    model.train()
    for x, y in train_loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
    # then: validation in eval mode without a graph, callbacks, scheduler.step()

A loader is any re-iterable of ``(inputs, targets)`` batches of edu_nn Tensors: an
``edu_nn.data.DataLoader``, or simply a list of pairs. ``loss_fn`` must return the *mean*
loss of the batch (the default reduction): epoch values are averages weighted by batch size.
"""
from __future__ import annotations

import collections.abc
import importlib.util
import math
import shutil
import sys
import time
import warnings
from typing import Any, Iterable

from ..autograd import no_grad
from ..interop import to_numpy
from ..tensor import Tensor
from .callbacks import Callback, LRSchedulerCallback, TrainingState
from .history import History
from .metrics import resolve_metrics

__all__ = ["fit", "evaluate", "TrainingDivergedError", "NonFiniteLossError",
           "DIVERGENCE_FACTOR"]

#: fit stops (or warns) when a training batch's loss exceeds this many times the lowest
#: batch loss so far (and the first batch's loss): three orders of magnitude.
DIVERGENCE_FACTOR = 1e3


class TrainingDivergedError(FloatingPointError):
    """Training diverged: the loss grew by orders of magnitude over its best (this class) or
    became nan/inf (:class:`NonFiniteLossError`). ``epoch`` and ``batch`` say where (epoch
    1-based, batch 0-based as in ``enumerate(loader)``), ``value`` is the loss, ``best``
    the lowest training loss before it (None if unknown), ``lr`` the learning rate,
    ``phase`` "train" or "validation"."""

    def __init__(self, message: str, *, epoch: int, batch: int, value: float,
                 lr: float | None, phase: str = "train", best: float | None = None) -> None:
        super().__init__(message)
        self.epoch, self.batch, self.value, self.lr, self.phase = epoch, batch, value, lr, phase
        self.best = best


class NonFiniteLossError(TrainingDivergedError):
    """The loss became nan or inf (attributes as in :class:`TrainingDivergedError`)."""


def _smaller_lr_hint(lr: float | None) -> str:
    smaller = f" (e.g. {lr / 10:g})" if lr else ""
    return (f"the learning rate (lr = {lr:g}) is probably too high. Try one 10x smaller"
            f"{smaller}, or clip gradients with grad_clip=1.0" if lr else
            "the learning rate is probably too high: try one 10x smaller, or clip gradients "
            "with grad_clip=1.0")


class _DivergenceWatch:
    """Catches a loss that explodes without (yet) becoming inf, as Karpathy's recipe teaches
    to watch for: a finite training loss more than ``factor`` times the lowest batch loss so
    far *and* above the first batch's loss. The second condition keeps a well-trained
    model's noisy batches (best 1e-5, then 0.05) from counting: only a loss worse than the
    untrained model's, after having been far below it, or a blow-up from the start, does.
    Losses that reach <= 0 (possible for hand-written losses) turn the check off."""

    def __init__(self, action: str | None, factor: float) -> None:
        self.action, self.factor = action, factor
        self.first: float | None = None
        self.best = math.inf
        self.warned = False

    def check(self, value: float, epoch: int, batch: int, lr: float | None) -> None:
        if self.action is None:
            return
        if self.first is None:
            self.first = value
        if 0 < self.best and value > self.factor * self.best and value > self.first:
            message = (f"fit: the training loss is {value:.4g} at epoch {epoch}, batch "
                       f"{batch}: over {self.factor:g} times its lowest value so far "
                       f"({self.best:.4g}), so training is diverging: "
                       f"{_smaller_lr_hint(lr)}.")
            if self.action == "stop":
                raise TrainingDivergedError(
                    f"{message} (fit(divergence='warn') only warns; divergence=None turns "
                    f"this check off.)", epoch=epoch, batch=batch, value=value, lr=lr,
                    best=self.best)
            if not self.warned:
                self.warned = True
                warnings.warn(message, RuntimeWarning, stacklevel=4)
        self.best = min(self.best, value)


def _nonfinite(value: float, epoch: int, batch: int, lr: float | None, phase: str,
               first_update: bool) -> NonFiniteLossError:
    where = f"epoch {epoch}, batch {batch}"
    if first_update:
        hint = ("This is the very first batch, before any update, so the learning rate is not "
                "the cause yet: check the inputs and targets for nan/inf, and the loss "
                "function (a log of 0? probabilities given to a loss that expects logits?).")
    else:
        hint = (f"Training diverged: {_smaller_lr_hint(lr)}. Other causes: nan/inf in the "
                f"data, or a log/division by zero in a hand-written loss or layer.")
    return NonFiniteLossError(f"fit: the {phase} loss is {value} at {where}. {hint}",
                              epoch=epoch, batch=batch, value=value, lr=lr, phase=phase)


# ------------------------------------------------------------------ small helpers
def _unpack(batch: Any, where: str, index: int):
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    got = (f"a {type(batch).__name__} of length {len(batch)}"
           if isinstance(batch, (tuple, list)) else f"a {type(batch).__name__}")
    raise TypeError(f"{where}: batch {index} is {got}; each batch must be a pair "
                    f"(inputs, targets), as a DataLoader over TensorDataset(x, y) yields, or "
                    f"a list of (x, y) tensor pairs")


def _forward(model, x):
    return model(*x) if isinstance(x, (tuple, list)) else model(x)


def _batch_size(y) -> int:
    shape = getattr(y, "shape", None)
    if shape is not None:
        return int(shape[0]) if len(shape) else 1
    return len(y)


def _loss_value(loss, where: str) -> float:
    if not isinstance(loss, Tensor):
        raise TypeError(f"{where}: loss_fn returned a {type(loss).__name__}; it must return "
                        f"an edu_nn Tensor (e.g. nn.CrossEntropyLoss()(output, target))")
    if loss.numel() != 1:
        raise ValueError(f"{where}: loss_fn returned a tensor of shape {loss.shape}; it must "
                         f"return one number, the batch's mean loss (reduction='mean')")
    return float(loss.item())


def _first_lr(optimizer) -> float | None:
    groups = getattr(optimizer, "param_groups", None)
    return float(groups[0]["lr"]) if groups else None


def _check_loader(loader, name: str, epochs: int) -> None:
    if loader is None or not isinstance(loader, collections.abc.Iterable):
        raise TypeError(f"fit: {name} must be an iterable of (inputs, targets) batches (a "
                        f"DataLoader or a list of pairs), got {type(loader).__name__}")
    # A generator is used up after one pass: the second epoch would silently train on nothing.
    if isinstance(loader, collections.abc.Iterator) and epochs > 1:
        raise TypeError(f"fit: {name} is an iterator (a generator?), which can be iterated "
                        f"only once, so epoch 2 would see no data; pass a list of batches or "
                        f"a DataLoader")


class _Accumulator:
    """Sums of per-batch means weighted by batch size -> epoch means."""

    def __init__(self, metric_fns: dict) -> None:
        self.metric_fns, self.sums, self.count = metric_fns, {}, 0

    def add(self, output, target, size: int, loss: float | None) -> None:
        if loss is not None:
            self.sums["loss"] = self.sums.get("loss", 0.0) + loss * size
        if self.metric_fns:
            with no_grad():  # metrics are numbers for people, never part of the graph
                out, tgt = to_numpy(output.detach()), to_numpy(target)
                for name, fn in self.metric_fns.items():
                    self.sums[name] = self.sums.get(name, 0.0) + float(fn(out, tgt)) * size
        self.count += size

    def means(self) -> dict[str, float]:
        return {k: v / self.count for k, v in self.sums.items()}


# ------------------------------------------------------------------ progress
class _Progress:
    """tqdm bars on stderr (an epoch bar and a per-epoch batch bar), or nothing.

    The layout fits 80 columns: a short description, the bar, counts and times, then at most
    two numbers (train loss and the validation accuracy or loss), never wider than the
    terminal (capped at 100 columns; tqdm trims what does not fit instead of wrapping). In a
    notebook the bars are tqdm.notebook widgets when ipywidgets is installed, else text bars
    80 columns wide.
    """

    WIDTH = 100   # the widest the bars get, however wide the terminal
    BAR_FORMAT = ("{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                  "[{elapsed}<{remaining}]{postfix}")

    def __init__(self, progress: bool | None, epochs: int, log_every: int | None) -> None:
        notebook = _in_notebook()
        if progress is None:  # a terminal, or a notebook (whose stderr is no tty)
            progress = sys.stderr.isatty() or notebook
        self.tqdm = None
        if progress:
            try:
                if notebook and importlib.util.find_spec("ipywidgets") is not None:
                    from tqdm.notebook import tqdm
                else:
                    from tqdm import tqdm
                self.tqdm = tqdm
            except ImportError:
                warnings.warn("fit(progress=True) needs tqdm (pip install tqdm); training "
                              "without progress bars", stacklevel=3)
        self.epochs, self.log_every = epochs, log_every
        # shutil falls back to 80 columns where there is no terminal (a notebook, a pipe)
        self.options = dict(file=sys.stderr, bar_format=self.BAR_FORMAT,
                            ncols=min(shutil.get_terminal_size().columns, self.WIDTH))
        self.outer = (self.tqdm(total=epochs, desc="fit", unit="epoch", **self.options)
                      if self.tqdm else None)

    def batches(self, loader: Iterable, epoch: int):
        if not self.tqdm:
            return loader
        total = len(loader) if hasattr(loader, "__len__") else None
        return self.tqdm(loader, total=total, desc=f"epoch {epoch}/{self.epochs}",
                         unit="batch", leave=False, **self.options)

    @staticmethod
    def batch_done(bar, loss: float, index: int) -> None:
        if hasattr(bar, "set_postfix") and index % 10 == 0:  # tqdm bars only; not too often
            bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def epoch_done(self, logs: dict[str, Any]) -> None:
        shown = {k: f"{v:.4g}" for k, v in logs.items()
                 if k not in ("epoch", "time") and isinstance(v, float)}
        if self.outer is not None:  # two short numbers, so the bar keeps its width
            val = "val_accuracy" if "val_accuracy" in shown else "val_loss"
            pairs = (("train_loss", "loss"), (val, val.replace("accuracy", "acc")))
            self.outer.set_postfix({name: shown[key] for key, name in pairs if key in shown},
                                   refresh=False)
            self.outer.update(1)
        epoch = logs["epoch"]
        if self.log_every and (epoch % self.log_every == 0 or epoch == self.epochs):
            line = (f"epoch {epoch:>{len(str(self.epochs))}}/{self.epochs}  "
                    + "  ".join(f"{k} {v}" for k, v in shown.items())
                    + f"  ({logs['time']:.2f} s)")
            (self.tqdm.write if self.tqdm else print)(line)

    def close(self) -> None:
        if self.outer is not None:
            self.outer.close()


# ------------------------------------------------------------------ evaluate
def _evaluate(model, loader, loss_fn, metric_fns: dict, epoch: int | None = None,
              where: str = "evaluate") -> dict[str, float]:
    was_training = getattr(model, "training", False)
    model.eval()
    acc = _Accumulator(metric_fns)
    try:
        with no_grad():
            for index, batch in enumerate(loader):
                x, y = _unpack(batch, where, index)
                output = _forward(model, x)
                value = None
                if loss_fn is not None:
                    value = _loss_value(loss_fn(output, y), where)
                    if epoch is not None and not math.isfinite(value):
                        raise _nonfinite(value, epoch, index, None, "validation", False)
                acc.add(output, y, _batch_size(y), value)
    finally:
        model.train(was_training)
    if acc.count == 0:
        raise ValueError(f"{where}: the loader yielded no batches (an empty dataset, or "
                         f"batch_size larger than the dataset with drop_last=True?)")
    return acc.means()


def evaluate(model, loader, loss_fn=None, metrics=("accuracy",)) -> dict[str, float]:
    """Mean loss and metrics of ``model`` over ``loader``, in eval mode, without a graph.

    Returns e.g. ``{"loss": 0.31, "accuracy": 0.92}`` (no "loss" when loss_fn is None).
    The model's train/eval mode is restored afterwards.
    """
    return _evaluate(model, loader, loss_fn, resolve_metrics(metrics))


# ------------------------------------------------------------------ fit
def _check_fit_args(model, loss_fn, optimizer, epochs, grad_clip, callbacks) -> None:
    if not callable(model) or not hasattr(model, "train"):
        raise TypeError(f"fit: model must be an edu_nn.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"fit: loss_fn must be callable, e.g. nn.CrossEntropyLoss(), got "
                        f"{type(loss_fn).__name__}")
    if not (hasattr(optimizer, "step") and hasattr(optimizer, "zero_grad")):
        raise TypeError(f"fit: optimizer must have step() and zero_grad() (e.g. "
                        f"optim.SGD(model.parameters(), lr=0.1)), got {type(optimizer).__name__}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"fit: epochs must be an int >= 1, got {epochs!r}")
    if grad_clip is not None and not grad_clip > 0:
        raise ValueError(f"fit: grad_clip is the max gradient norm and must be > 0, got "
                         f"{grad_clip!r}")
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"fit: callbacks must be edu_nn.train.Callback instances, got "
                            f"{type(cb).__name__} (did you pass the class instead of "
                            f"an instance, e.g. EarlyStopping instead of EarlyStopping()?)")


def _compiled_step(model, loss_fn, optimizer, grad_clip):
    """The training step of fit(compile=True), through edu_nn.compile (fullgraph=False: a
    step that cannot be captured runs eagerly, with a warning)."""
    from ..compiled_step import compile as compile_step
    from ..nn.utils import clip_grad_norm_

    def train_step(x, y):
        optimizer.zero_grad()
        output = _forward(model, x)
        loss = loss_fn(output, y)
        loss.backward()
        if grad_clip is not None:
            clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        return loss, output
    return compile_step(train_step, fullgraph=False)


def _train_epoch(model, loss_fn, optimizer, loader, metric_fns, state: TrainingState,
                 callbacks, progress: _Progress, grad_clip, epoch: int,
                 watch: _DivergenceWatch, compiled=None) -> dict[str, float]:
    from ..nn.utils import clip_grad_norm_
    model.train()
    acc = _Accumulator(metric_fns)
    bar = progress.batches(loader, epoch)
    try:
        for index, batch in enumerate(bar):
            x, y = _unpack(batch, "fit: train_loader", index)
            if compiled is not None and isinstance(x, Tensor) and isinstance(y, Tensor):
                # The compiled step has already updated the parameters when the loss is
                # checked (a non-finite or diverging loss still stops training).
                loss, output = compiled(x, y)
                value = _loss_value(loss, "fit")
                if not math.isfinite(value):
                    raise _nonfinite(value, epoch, index, _first_lr(optimizer), "train",
                                     state.global_step == 0)
                watch.check(value, epoch, index, _first_lr(optimizer))
                _batch_done(acc, output, y, value, index, state, callbacks, progress, bar)
                continue
            optimizer.zero_grad()
            output = _forward(model, x)
            loss = loss_fn(output, y)
            value = _loss_value(loss, "fit")
            if not math.isfinite(value):
                raise _nonfinite(value, epoch, index, _first_lr(optimizer), "train",
                                 state.global_step == 0)
            watch.check(value, epoch, index, _first_lr(optimizer))
            loss.backward()
            if grad_clip is not None:
                clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            _batch_done(acc, output, y, value, index, state, callbacks, progress, bar)
    finally:
        if hasattr(bar, "close"):
            bar.close()
    if acc.count == 0:
        raise ValueError("fit: train_loader yielded no batches (an empty dataset, or "
                         "batch_size larger than the dataset with drop_last=True?)")
    return acc.means()


def _batch_done(acc, output, y, value, index, state, callbacks, progress, bar) -> None:
    size = _batch_size(y)
    acc.add(output, y, size, value)
    state.global_step += 1
    for cb in callbacks:
        cb.on_batch_end(index, {"loss": value, "batch_size": size}, state)
    progress.batch_done(bar, value, index)


def fit(model, loss_fn, optimizer, train_loader, val_loader=None, epochs: int = 10,
        scheduler=None, callbacks=(), metrics=("accuracy",), progress: bool | None = None,
        log_every: int | None = None, grad_clip: float | None = None,
        divergence: str | None = "stop", divergence_factor: float = DIVERGENCE_FACTOR,
        compile: bool = False) -> History:
    """Train ``model`` for ``epochs`` epochs; returns the :class:`History`.

    Args:
        model: an ``nn.Module`` mapping a batch of inputs to outputs (logits, values).
        loss_fn: ``loss_fn(output, target)`` -> the batch's mean loss (a one-element Tensor).
        optimizer: an ``edu_nn.optim`` optimizer over ``model.parameters()``.
        train_loader, val_loader: re-iterables of ``(inputs, targets)`` batches.
        epochs: number of passes over ``train_loader`` (callbacks may stop earlier).
        scheduler: an lr scheduler stepped once per epoch, after validation;
            ``ReduceLROnPlateau`` gets ``val_loss`` (``train_loss`` without a val_loader).
            For per-batch schedules (OneCycleLR) use
            ``callbacks=[LRSchedulerCallback(sched, interval="batch")]`` instead.
        callbacks: :class:`Callback` instances (EarlyStopping, ModelCheckpoint, ...).
        metrics: names ("accuracy", "mse", "mae") or functions ``fn(output, target)`` of
            NumPy arrays returning the batch mean; ``{"name": fn}`` names them.
            Train metrics are computed on the training batches as they are seen.
        progress: tqdm progress bars on stderr; default: only in a terminal or a notebook.
        log_every: print a one-line summary every ``log_every`` epochs (default: never).
        grad_clip: clip the gradients' total norm to this value before each step.
        divergence: what to do when a training batch's loss is over ``divergence_factor``
            (1000) times the lowest batch loss so far and above the first batch's loss,
            i.e. the loss grew by orders of magnitude: "stop" (raise
            :class:`TrainingDivergedError`, whose message suggests a smaller learning
            rate), "warn" (a RuntimeWarning, once, and go on) or None (no check).
        compile: run each training step through ``edu_nn.compile`` (a static graph
            replayed; one jit program on JAX; see docs/compile.md). The loss checks then
            see each batch's loss after its step; a step that cannot be captured runs
            eagerly with a warning.

    History keys: epoch, train_loss, train_<metric>, val_loss, val_<metric>, lr (the lr of
    the first param group during the epoch), time (seconds). A nan/inf loss raises
    :class:`NonFiniteLossError` (whatever ``divergence`` says). Ctrl-C stops after cleaning
    up and returns the history so far. The model is left in eval mode, ready for predictions.
    """
    callbacks = list(callbacks)
    _check_fit_args(model, loss_fn, optimizer, epochs, grad_clip, callbacks)
    _check_loader(train_loader, "train_loader", epochs)
    if val_loader is not None:
        _check_loader(val_loader, "val_loader", epochs)
    metric_fns = resolve_metrics(metrics)
    if divergence not in ("stop", "warn", None):
        raise ValueError(f"fit: divergence must be 'stop', 'warn' or None, got {divergence!r}")
    if not (isinstance(divergence_factor, (int, float)) and divergence_factor > 1):
        raise ValueError(f"fit: divergence_factor must be a number > 1 (how many times its "
                         f"lowest value the loss may grow to), got {divergence_factor!r}")
    watch = _DivergenceWatch(divergence, float(divergence_factor))
    if scheduler is not None:
        callbacks.insert(0, LRSchedulerCallback(scheduler, interval="epoch"))

    compiled = _compiled_step(model, loss_fn, optimizer, grad_clip) if compile else None
    history = History()
    state = TrainingState(model, optimizer, loss_fn, history, epochs)
    progress = _Progress(progress, epochs, log_every)
    start = time.perf_counter()
    try:
        for cb in callbacks:
            cb.on_train_begin(state)
        for epoch in range(1, epochs + 1):
            state.epoch = epoch
            epoch_start = time.perf_counter()
            for cb in callbacks:
                cb.on_epoch_begin(epoch, state)
            lr = _first_lr(optimizer)
            logs: dict[str, Any] = {"epoch": epoch}
            train = _train_epoch(model, loss_fn, optimizer, train_loader, metric_fns, state,
                                 callbacks, progress, grad_clip, epoch, watch, compiled)
            logs.update((f"train_{k}", v) for k, v in train.items())
            if val_loader is not None:
                val = _evaluate(model, val_loader, loss_fn, metric_fns, epoch,
                                "fit: val_loader")
                logs.update((f"val_{k}", v) for k, v in val.items())
            logs["lr"] = lr
            logs["time"] = time.perf_counter() - epoch_start
            history.append(logs)
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs, state)
            progress.epoch_done(logs)
            if state.stop_training:
                break
    except KeyboardInterrupt:
        # In a notebook, interrupting a long run should keep what was learned so far.
        state.stop(f"interrupted (KeyboardInterrupt) during epoch {state.epoch}")
        print(f"fit: {state.stop_reason}; returning the history of the "
              f"{history.epochs} finished epoch(s)", file=sys.stderr)
    finally:
        progress.close()
    history.stop_reason = state.stop_reason
    for cb in callbacks:
        cb.on_train_end(state)
    history.wall_time = time.perf_counter() - start
    model.eval()
    return history


def _in_notebook() -> bool:
    """Running in a Jupyter kernel (not merely with ipykernel imported, as a test process or
    a notebook runner may have it)."""
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", lambda: None)() if ipython else None
    return type(shell).__name__ == "ZMQInteractiveShell"

