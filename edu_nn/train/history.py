"""``History``: what ``fit`` records, one value per epoch for every key.

    history = fit(model, loss_fn, opt, train_loader, val_loader, epochs=20)
    history.history["val_loss"]        # [0.93, 0.71, ...], one per epoch
    history.best("val_accuracy")       # BestEpoch(epoch=14, value=0.975)
    json.dump(history.to_dict(), f)    # plain lists of floats (nan/inf become None)

Keys: ``epoch`` (1, 2, ...), ``train_loss``, ``train_<metric>``, ``val_loss`` and
``val_<metric>`` (with a validation loader), ``lr`` (the learning rate of the first param
group *during* the epoch), ``time`` (seconds the epoch took: training and validation).
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

from .metrics import infer_mode

__all__ = ["History", "BestEpoch"]


class BestEpoch(NamedTuple):
    epoch: int      # 1-based, as in history["epoch"]
    value: float


class History:
    """Per-epoch records: ``.history`` is a dict of lists, all of the same length."""

    def __init__(self) -> None:
        self.history: dict[str, list] = {}
        self.stop_reason: str | None = None   # why training stopped early (None: it did not)
        self.wall_time: float = 0.0           # seconds for the whole fit

    def append(self, logs: dict[str, Any]) -> None:
        """Add one epoch. A key missing from ``logs`` gets None; a new key is padded with
        None for the earlier epochs, so every list keeps one entry per epoch."""
        n = self.epochs
        for key in logs:
            if key not in self.history:
                self.history[key] = [None] * n
        for key, values in self.history.items():
            values.append(logs.get(key))

    @property
    def epochs(self) -> int:
        """How many epochs were recorded."""
        return len(next(iter(self.history.values()), []))

    def __getitem__(self, key: str) -> list:
        return self.history[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def __len__(self) -> int:
        return self.epochs

    def best(self, metric: str = "val_loss", mode: str | None = None) -> BestEpoch:
        """The epoch (1-based) with the best value of ``metric``, and that value.

        mode: "min" or "max"; default: "min" for losses and errors, "max" otherwise.
        Epochs where the value is missing or nan are skipped; ties go to the earliest.
        """
        if metric not in self.history:
            raise KeyError(f"History.best: no {metric!r} in the history; recorded keys: "
                           f"{', '.join(self.history)}")
        mode = mode or infer_mode(metric)
        if mode not in ("min", "max"):
            raise ValueError(f"History.best: mode must be 'min' or 'max', got {mode!r}")
        epochs = self.history.get("epoch", list(range(1, self.epochs + 1)))
        pairs = [(e, v) for e, v in zip(epochs, self.history[metric])
                 if v is not None and not math.isnan(v)]
        if not pairs:
            raise ValueError(f"History.best: {metric!r} has no recorded value")
        pick = min if mode == "min" else max
        epoch, value = pick(pairs, key=lambda pair: pair[1])
        return BestEpoch(int(epoch), float(value))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: ``{"history": {key: [...]}, "epochs", "stop_reason", "wall_time"}``.
        Non-finite floats become None (strict JSON has no nan)."""
        def clean(v):
            if isinstance(v, float) and not math.isfinite(v):
                return None
            if hasattr(v, "item") and not isinstance(v, (list, dict)):
                return clean(v.item())  # a NumPy scalar
            return v
        return {"history": {k: [clean(v) for v in vs] for k, vs in self.history.items()},
                "epochs": self.epochs, "stop_reason": self.stop_reason,
                "wall_time": self.wall_time}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "History":
        """Inverse of ``to_dict`` (None stays None)."""
        history = cls()
        history.history = {k: list(v) for k, v in data["history"].items()}
        history.stop_reason = data.get("stop_reason")
        history.wall_time = data.get("wall_time", 0.0)
        return history

    def __repr__(self) -> str:
        last = {k: v[-1] for k, v in self.history.items()} if self.epochs else {}
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in last.items())
        return f"History({self.epochs} epochs; last: {shown})"
