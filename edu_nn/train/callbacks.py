"""Callbacks: code that ``fit`` runs at fixed points of training (Keras' idea, torch names).

    fit(model, loss_fn, opt, train_loader, val_loader, epochs=100, callbacks=[
        EarlyStopping(monitor="val_loss", patience=5),     # stop, then restore the best weights
        ModelCheckpoint("best.npz", monitor="val_accuracy"),
        RecordMagnitudes(),                                 # for plot_weight_grad_magnitudes
    ])

A callback subclasses :class:`Callback` and overrides any of the hooks below. Each hook gets
the :class:`TrainingState` (model, optimizer, history, current epoch); a callback stops
training with ``state.stop("why")`` (the current epoch is finished first).

    on_train_begin(state)
    on_epoch_begin(epoch, state)                # epoch: 1, 2, ...
    on_batch_end(batch, logs, state)            # after optimizer.step(); logs: loss, batch_size
    on_epoch_end(epoch, logs, state)            # logs: this epoch's row of the history
    on_train_end(state)                         # also after a stop or a KeyboardInterrupt
"""
from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from ..interop import to_numpy
from .metrics import infer_mode

__all__ = ["Callback", "TrainingState", "EarlyStopping", "ModelCheckpoint",
           "LRSchedulerCallback", "RecordMagnitudes", "layer_magnitudes"]


class TrainingState:
    """What callbacks see: ``model``, ``optimizer``, ``loss_fn``, ``history``, ``epoch``
    (the current one, 1-based), ``epochs`` (the planned number), ``global_step`` (batches
    trained so far), and ``stop_training`` / ``stop_reason``."""

    def __init__(self, model, optimizer, loss_fn, history, epochs: int) -> None:
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.history, self.epochs = history, epochs
        self.epoch = 0
        self.global_step = 0
        self.stop_training = False
        self.stop_reason: str | None = None

    def stop(self, reason: str = "stopped by a callback") -> None:
        """Ask fit to stop after the current epoch."""
        self.stop_training = True
        self.stop_reason = reason


class Callback:
    """Base class: every hook does nothing. Override the ones you need."""

    def on_train_begin(self, state: TrainingState) -> None: ...
    def on_epoch_begin(self, epoch: int, state: TrainingState) -> None: ...
    def on_batch_end(self, batch: int, logs: dict[str, Any], state: TrainingState) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict[str, Any], state: TrainingState) -> None: ...
    def on_train_end(self, state: TrainingState) -> None: ...


# ------------------------------------------------------------------ helpers
def _resolve_mode(who: str, monitor: str, mode: str) -> str:
    if mode == "auto":
        return infer_mode(monitor)
    if mode not in ("min", "max"):
        raise ValueError(f"{who}: mode must be 'min' (a loss), 'max' (an accuracy) or 'auto', "
                         f"got {mode!r}")
    return mode


def _monitored(who: str, monitor: str, logs: dict[str, Any]) -> float:
    if monitor not in logs:
        hint = (" (fit has no val_loader, so there are no val_* values: pass val_loader= or "
                f"monitor={monitor.replace('val_', 'train_', 1)!r})"
                if monitor.startswith("val_") else "")
        raise KeyError(f"{who}: monitor={monitor!r} is not among this epoch's values "
                       f"{sorted(logs)}{hint}")
    value = logs[monitor]
    return math.nan if value is None else float(value)


class _Improvement:
    """Tracks the best value of a monitored quantity: ``value`` improves on ``best`` when it
    is lower by more than ``min_delta`` (mode "min") or higher by more (mode "max"). nan
    never improves."""

    def __init__(self, mode: str, min_delta: float = 0.0) -> None:
        self.mode, self.min_delta = mode, abs(float(min_delta))
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch: int | None = None

    def update(self, value: float, epoch: int) -> bool:
        if math.isnan(value):
            return False
        better = (value < self.best - self.min_delta if self.mode == "min"
                  else value > self.best + self.min_delta)
        if better:
            self.best, self.best_epoch = value, epoch
        return better


def snapshot(model) -> dict[str, np.ndarray]:
    """A copy of ``model.state_dict()`` as NumPy arrays (safe from later updates on every
    backend); ``model.load_state_dict(snapshot)`` puts it back."""
    return {k: np.array(to_numpy(v), copy=True) for k, v in model.state_dict().items()}


# ------------------------------------------------------------------ EarlyStopping
class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs in a row.

    An epoch improves when the value beats the best so far by more than ``min_delta``.
    mode: "min" (losses), "max" (accuracies) or "auto" (from the name: "min" for *loss*,
    *mse*, *mae*, *error*; "max" otherwise). With ``restore_best_weights`` the weights
    (and buffers) of the best epoch are copied when it happens and loaded back when training
    ends, so the model you keep is the best one, not the last one.

    After training: ``best``, ``best_epoch``, ``stopped_epoch`` (None if it never stopped).
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = True,
                 verbose: bool = False) -> None:
        if not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an int >= 0 (epochs without "
                             f"improvement before stopping), got {patience!r}")
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.mode = _resolve_mode("EarlyStopping", monitor, mode)
        self.restore_best_weights, self.verbose = restore_best_weights, verbose
        self.on_train_begin(None)

    def on_train_begin(self, state) -> None:
        self._tracker = _Improvement(self.mode, self.min_delta)
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.best_weights: dict[str, np.ndarray] | None = None
        self._last_epoch: int | None = None

    @property
    def best(self) -> float:
        return self._tracker.best

    @property
    def best_epoch(self) -> int | None:
        return self._tracker.best_epoch

    def on_epoch_end(self, epoch, logs, state) -> None:
        self._last_epoch = epoch
        value = _monitored("EarlyStopping", self.monitor, logs)
        if self._tracker.update(value, epoch):
            self.wait = 0
            if self.restore_best_weights:
                self.best_weights = snapshot(state.model)
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            state.stop(f"EarlyStopping: {self.monitor} did not improve for {self.wait} "
                       f"epoch(s) (best {self.best:.4g} at epoch {self.best_epoch})")

    def on_train_end(self, state) -> None:
        if (self.restore_best_weights and self.best_weights is not None
                and self.best_epoch != self._last_epoch):
            state.model.load_state_dict(self.best_weights)
            if self.verbose:
                print(f"EarlyStopping: restored the weights of epoch {self.best_epoch} "
                      f"({self.monitor} = {self.best:.4g})")


# ------------------------------------------------------------------ ModelCheckpoint
class ModelCheckpoint(Callback):
    """Save ``model.state_dict()`` with ``edu_nn.save`` (a ``.npz`` file, no pickle).

    save_best_only=True: save when ``monitor`` improves (the file always holds the best
    epoch so far); False: save every epoch. ``path`` may contain ``{epoch}`` and any log key,
    e.g. ``"ckpt/epoch{epoch:02d}-{val_loss:.3f}.npz"``; folders are created.
    Load with ``model.load_state_dict(edu_nn.load(path))``.

    After training: ``best``, ``best_epoch``, ``best_path``, ``saved`` (every path written).
    """

    def __init__(self, path, monitor: str = "val_loss", mode: str = "auto",
                 save_best_only: bool = True, verbose: bool = False) -> None:
        self.path, self.monitor, self.save_best_only = os.fspath(path), monitor, save_best_only
        self.mode = _resolve_mode("ModelCheckpoint", monitor, mode)
        self.verbose = verbose
        self.on_train_begin(None)

    def on_train_begin(self, state) -> None:
        self._tracker = _Improvement(self.mode)
        self.best_path: str | None = None
        self.saved: list[str] = []

    @property
    def best(self) -> float:
        return self._tracker.best

    @property
    def best_epoch(self) -> int | None:
        return self._tracker.best_epoch

    def _format(self, epoch: int, logs: dict[str, Any]) -> str:
        try:
            return self.path.format(epoch=epoch, **{k: v for k, v in logs.items()
                                                    if k != "epoch"})
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"ModelCheckpoint: cannot fill in the path {self.path!r} "
                             f"({exc!r}); it may use {{epoch}} and {sorted(logs)}") from None

    def on_epoch_end(self, epoch, logs, state) -> None:
        from ..serialization import save
        if self.save_best_only:
            improved = self._tracker.update(_monitored("ModelCheckpoint", self.monitor, logs),
                                            epoch)
            if not improved:
                return
        elif self.monitor in logs:
            self._tracker.update(_monitored("ModelCheckpoint", self.monitor, logs), epoch)
        path = self._format(epoch, logs)
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        save(state.model.state_dict(), path)
        self.saved.append(path)
        if self.save_best_only or self.best_epoch == epoch:
            self.best_path = path
        if self.verbose:
            print(f"ModelCheckpoint: epoch {epoch}: saved {path}")


# ------------------------------------------------------------------ schedulers
class LRSchedulerCallback(Callback):
    """Step an lr scheduler once per epoch (``interval="epoch"``, what ``fit(scheduler=)``
    does) or after every batch (``interval="batch"``, e.g. for OneCycleLR).

    ReduceLROnPlateau is stepped with the value of ``monitor`` (default: ``val_loss`` when
    there is a validation loader, else ``train_loss``).
    """

    def __init__(self, scheduler, interval: str = "epoch", monitor: str | None = None) -> None:
        from ..optim.lr_scheduler import ReduceLROnPlateau
        if not hasattr(scheduler, "step"):
            raise TypeError(f"LRSchedulerCallback: expected an lr scheduler (from "
                            f"edu_nn.optim.lr_scheduler), got {type(scheduler).__name__}")
        if interval not in ("epoch", "batch"):
            raise ValueError(f"LRSchedulerCallback: interval must be 'epoch' or 'batch', "
                             f"got {interval!r}")
        self.plateau = isinstance(scheduler, ReduceLROnPlateau)
        if self.plateau and interval == "batch":
            raise ValueError("ReduceLROnPlateau watches a per-epoch value (the validation "
                             "loss): use interval='epoch'")
        self.scheduler, self.interval, self.monitor = scheduler, interval, monitor

    def on_batch_end(self, batch, logs, state) -> None:
        if self.interval == "batch":
            self.scheduler.step()

    def on_epoch_end(self, epoch, logs, state) -> None:
        if self.interval != "epoch":
            return
        if self.plateau:
            monitor = self.monitor or ("val_loss" if "val_loss" in logs else "train_loss")
            self.scheduler.step(_monitored("ReduceLROnPlateau", monitor, logs))
        else:
            self.scheduler.step()


# ------------------------------------------------------------------ magnitudes
def layer_magnitudes(model, include_bias: bool = False) -> dict[str, tuple[float, float]]:
    """``{parameter name: (mean |w|, mean |grad|)}`` right now (grad: nan when None).

    By default only weights (parameters with 2 or more dimensions) are listed, one per layer,
    in the model's order: the numbers behind plots of vanishing or exploding gradients.
    """
    out = {}
    for name, p in model.named_parameters():
        if not include_bias and len(p.shape) < 2:
            continue
        xp = p.backend
        weight = float(xp.item(xp.mean(xp.abs(p.array))))
        grad = math.nan if p.grad is None else float(
            xp.item(xp.mean(xp.abs(p.grad.array))))
        out[name] = (weight, grad)
    return out


class RecordMagnitudes(Callback):
    """Record every layer's mean |weight| and mean |gradient| during training.

    every="batch" records after every ``every_n``-th optimizer step (the gradient is the
    one that step used); every="epoch" records at the end of each epoch (the last batch's
    gradient). Results: ``steps`` (global step or epoch numbers), ``weights`` and ``grads``
    (``{name: [values]}``). Plot them with ``edu_nn.viz.plot_weight_grad_magnitudes``.
    """

    def __init__(self, every: str = "batch", every_n: int = 1, include_bias: bool = False):
        if every not in ("batch", "epoch"):
            raise ValueError(f"RecordMagnitudes: every must be 'batch' or 'epoch', got "
                             f"{every!r}")
        self.every, self.every_n, self.include_bias = every, max(1, int(every_n)), include_bias
        self.steps: list[int] = []
        self.weights: dict[str, list[float]] = {}
        self.grads: dict[str, list[float]] = {}

    @property
    def step_name(self) -> str:
        return "step" if self.every == "batch" else "epoch"

    def record(self, model, step: int) -> None:
        """Append the magnitudes of ``model`` now (usable in a hand-written loop too)."""
        self.steps.append(step)
        for name, (w, g) in layer_magnitudes(model, self.include_bias).items():
            self.weights.setdefault(name, []).append(w)
            self.grads.setdefault(name, []).append(g)

    def on_batch_end(self, batch, logs, state) -> None:
        if self.every == "batch" and state.global_step % self.every_n == 0:
            self.record(state.model, state.global_step)

    def on_epoch_end(self, epoch, logs, state) -> None:
        if self.every == "epoch" and epoch % self.every_n == 0:
            self.record(state.model, epoch)

    def to_dict(self) -> dict[str, Any]:
        return {"steps": list(self.steps), "step_name": self.step_name,
                "weights": {k: list(v) for k, v in self.weights.items()},
                "grads": {k: list(v) for k, v in self.grads.items()}}
