"""Pictures of training: learning curves, weight and gradient magnitudes per layer, decision
boundaries of 2-d classifiers, confusion matrices.

Every function returns a matplotlib ``Figure`` (a notebook shows it inline when it is the
cell's last expression) and, given ``path``, also saves it (PNG, PDF or SVG by the suffix).
Figures are made with ``matplotlib.figure.Figure`` directly, not pyplot: they need no display
(the Agg renderer), are not shown twice in a notebook, and are freed when you drop them.
matplotlib is imported only when a function here is called.
"""
from __future__ import annotations

import math
import os
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["plot_learning_curves", "plot_weight_grad_magnitudes", "plot_decision_boundary",
           "plot_confusion_matrix", "confusion_matrix"]


def _figure(width: float, height: float, ncols: int = 1, nrows: int = 1):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("edu_nn.viz needs matplotlib: pip install matplotlib "
                          "(or pip install 'edu-nn[train]')") from None
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes.ravel()


def _save(fig, path) -> None:
    if path is not None:
        folder = os.path.dirname(os.fspath(path))
        if folder:
            os.makedirs(folder, exist_ok=True)
        fig.savefig(path, dpi=110)


def _as_numpy(value) -> np.ndarray:
    if hasattr(value, "detach") and hasattr(value, "backend"):  # an edu_nn Tensor
        from ..interop import to_numpy
        return to_numpy(value.detach())
    return np.asarray(value)


# ------------------------------------------------------------------ learning curves
def _history_dict(history) -> dict[str, list]:
    if hasattr(history, "history"):
        history = history.history
    if isinstance(history, Mapping) and "history" in history and isinstance(
            history["history"], Mapping):
        history = history["history"]   # History.to_dict()
    if not isinstance(history, Mapping):
        raise TypeError(f"plot_learning_curves: expected a History (what fit returns) or its "
                        f"dict of lists, got {type(history).__name__}")
    return dict(history)


def _finite(values) -> np.ndarray:
    return np.array([math.nan if v is None else float(v) for v in values])


def plot_learning_curves(history, path=None, title: str | None = None):
    """One panel for the loss and one per metric (train and validation curves, the best
    validation epoch marked), plus the learning rate when it changed.

    history: a ``History`` from ``fit``, its ``to_dict()``, or ``{key: [per-epoch values]}``
    with keys like ``train_loss``/``val_loss``/``train_accuracy``/``lr`` (plain ``loss``
    and ``accuracy`` keys work too).
    """
    from ..train.metrics import infer_mode
    h = _history_dict(history)
    n = max((len(v) for v in h.values()), default=0)
    if n == 0:
        raise ValueError("plot_learning_curves: the history is empty (did fit run an epoch?)")
    epochs = h.get("epoch") or list(range(1, n + 1))
    skip = {"epoch", "lr", "time"}
    names = list(dict.fromkeys(
        k[len("train_"):] if k.startswith("train_") else k[len("val_"):]
        if k.startswith("val_") else k for k in h if k not in skip))
    names.sort(key=lambda name: name != "loss")  # the loss first
    lrs = _finite(h.get("lr", []))
    show_lr = len(lrs) > 1 and np.nanmax(lrs) != np.nanmin(lrs)
    panels = len(names) + (1 if show_lr else 0)
    fig, axes = _figure(4.2 * panels, 3.3, ncols=panels)
    for ax, name in zip(axes, names):
        for key, label, style in ((f"train_{name}", "train", "-"), (f"val_{name}", "val", "-"),
                                  (name, name, "-")):
            if key in h:
                ax.plot(epochs, _finite(h[key]), style, marker="o", markersize=3, label=label)
        val = _finite(h.get(f"val_{name}", []))
        if len(val) and np.isfinite(val).any():
            best = int(np.nanargmin(val) if infer_mode(name) == "min" else np.nanargmax(val))
            ax.axvline(epochs[best], color="gray", linestyle=":", linewidth=1)
            ax.annotate(f"best {val[best]:.3g}\n(epoch {epochs[best]})",
                        (epochs[best], val[best]), textcoords="offset points",
                        xytext=(4, 8), fontsize=8)
        ax.set(xlabel="epoch", ylabel=name, title=name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if show_lr:
        ax = axes[len(names)]
        ax.plot(epochs, lrs, marker="o", markersize=3)
        ax.set(xlabel="epoch", ylabel="learning rate", yscale="log", title="learning rate")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    _save(fig, path)
    return fig


# ------------------------------------------------------------------ magnitudes
def plot_weight_grad_magnitudes(records, path=None, title: str | None = None):
    """Mean |weight| and mean |gradient| of every layer over training, log scale: the picture
    of vanishing gradients (with sigmoid the first layers' gradients are orders of magnitude
    below the last layer's; with ReLU they stay comparable).

    records: a ``RecordMagnitudes`` callback after ``fit`` (or its ``to_dict()``), or
    ``{"steps": [...], "weights": {name: [...]}, "grads": {name: [...]}}``.
    A third panel shows each layer's mean |gradient| over the run against its depth.
    """
    if hasattr(records, "to_dict"):
        records = records.to_dict()
    try:
        steps, weights, grads = records["steps"], records["weights"], records["grads"]
    except (KeyError, TypeError):
        raise TypeError("plot_weight_grad_magnitudes: expected a RecordMagnitudes callback "
                        "or a dict with 'steps', 'weights' and 'grads'") from None
    if not steps or not weights:
        raise ValueError("plot_weight_grad_magnitudes: nothing was recorded (was the "
                         "RecordMagnitudes callback passed to fit(callbacks=[...])?)")
    step_name = records.get("step_name", "step")
    fig, axes = _figure(13.5, 3.6, ncols=3)
    colors = [f"C{i % 10}" for i in range(len(weights))]
    for (name, values), color in zip(weights.items(), colors):
        axes[0].plot(steps, _finite(values), color=color, label=name)
    for (name, values), color in zip(grads.items(), colors):
        axes[1].plot(steps, _finite(values), color=color, label=name)
    for ax, what in ((axes[0], "mean |weight|"), (axes[1], "mean |gradient|")):
        ax.set(xlabel=step_name, ylabel=what, title=f"{what} per layer", yscale="log")
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=7)
    means = [np.nanmean(_finite(v)) if np.isfinite(_finite(v)).any() else np.nan
             for v in grads.values()]
    axes[2].bar(range(len(means)), means, color=colors)
    axes[2].set_xticks(range(len(means)), list(grads), rotation=45, ha="right", fontsize=7)
    axes[2].set(ylabel="mean |gradient| over the run", title="gradient by depth (input first)",
                yscale="log")
    if title:
        fig.suptitle(title)
    _save(fig, path)
    return fig


# ------------------------------------------------------------------ decision boundary
def _model_tensor(model, array: np.ndarray):
    import edu_nn
    params = list(model.parameters())
    if not params:
        return edu_nn.tensor(array)
    p = params[0]
    dtype = p.dtype if p.is_floating_point() else None
    return edu_nn.tensor(array.astype(np.float64), dtype=dtype, backend=p.backend,
                         device=p.device)


def _predict(model, points: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    """Class predictions for points (M, 2), in eval mode without a graph."""
    import edu_nn
    from ..train.metrics import predicted_classes
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        with edu_nn.no_grad():
            out = [predicted_classes(_as_numpy(model(_model_tensor(model, chunk))))
                   for chunk in np.array_split(points, max(1, -(-len(points) // batch_size)))]
    finally:
        model.train(was_training)
    return np.concatenate(out)


def plot_decision_boundary(model, x, y, path=None, resolution: int = 200,
                           margin: float = 0.5, title: str | None = None):
    """The regions of the plane that ``model`` assigns to each class, with the data on top.

    model: maps (M, 2) inputs to (M, C) logits (argmax) or (M,)/(M, 1) logits (> 0).
    x: (N, 2) points; y: (N,) integer labels (NumPy arrays or edu_nn Tensors).
    The grid spans the data plus ``margin`` with ``resolution`` points per axis.
    """
    x, y = _as_numpy(x), _as_numpy(y).reshape(-1)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"plot_decision_boundary: x must have shape (N, 2) (2-d points), got "
                         f"{x.shape}; for higher-dimensional data plot two features or a "
                         f"projection")
    if len(y) != len(x):
        raise ValueError(f"plot_decision_boundary: {len(x)} points but {len(y)} labels")
    (x0, y0), (x1, y1) = x.min(axis=0) - margin, x.max(axis=0) + margin
    gx, gy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    regions = _predict(model, grid).reshape(gx.shape)
    classes = np.unique(np.concatenate([np.unique(y), np.unique(regions)])).astype(int)
    fig, (ax,) = _figure(5.0, 4.4)
    from matplotlib.colors import ListedColormap
    palette = [f"C{c % 10}" for c in range(int(classes.max()) + 1)]
    cmap = ListedColormap(palette)
    ax.contourf(gx, gy, regions, levels=np.arange(len(palette) + 1) - 0.5, cmap=cmap,
                alpha=0.3)
    ax.scatter(x[:, 0], x[:, 1], c=y.astype(int), cmap=cmap, vmin=-0.5,
               vmax=len(palette) - 0.5, s=14, edgecolors="k", linewidths=0.3)
    accuracy = float(np.mean(_predict(model, x) == y))
    ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="x1", ylabel="x2",
           title=title or f"decision boundary (accuracy {accuracy:.1%})")
    _save(fig, path)
    return fig


# ------------------------------------------------------------------ confusion matrix
def confusion_matrix(y_true, y_pred, num_classes: int | None = None) -> np.ndarray:
    """counts[i, j] = how many samples of true class i were predicted as class j."""
    y_true = _as_numpy(y_true).reshape(-1).astype(np.int64)
    y_pred = _as_numpy(y_pred)
    if y_pred.ndim == 2:  # logits (N, C): take the argmax
        y_pred = y_pred.argmax(axis=1)
    y_pred = y_pred.reshape(-1).astype(np.int64)
    if len(y_true) != len(y_pred):
        raise ValueError(f"confusion_matrix: {len(y_true)} true labels but {len(y_pred)} "
                         f"predictions")
    if len(y_true) and min(y_true.min(), y_pred.min()) < 0:
        raise ValueError("confusion_matrix: labels must be integers >= 0")
    k = num_classes or (int(max(y_true.max(), y_pred.max())) + 1 if len(y_true) else 0)
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def plot_confusion_matrix(y_true, y_pred, path=None, class_names: Sequence[Any] | None = None,
                          normalize: bool = False, title: str | None = None):
    """Rows: true class, columns: predicted class; the diagonal holds the right answers.

    y_pred may be labels (N,) or logits (N, C). normalize=True shows each row as fractions
    (the recall of each class) instead of counts.
    """
    k = len(class_names) if class_names is not None else None
    counts = confusion_matrix(y_true, y_pred, k)
    shown = counts.astype(np.float64)
    if normalize:
        shown = shown / np.maximum(shown.sum(axis=1, keepdims=True), 1)
    k = len(counts)
    names = [str(c) for c in (class_names if class_names is not None else range(k))]
    size = max(3.5, 0.45 * k + 2)
    fig, (ax,) = _figure(size + 0.8, size)
    image = ax.imshow(shown, cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax, shrink=0.8)
    if k <= 30:   # the numbers stay readable up to about 30 classes
        threshold = shown.max() / 2 if shown.size else 0
        for i in range(k):
            for j in range(k):
                text = f"{shown[i, j]:.2f}" if normalize else str(counts[i, j])
                ax.text(j, i, text, ha="center", va="center", fontsize=8,
                        color="white" if shown[i, j] > threshold else "black")
    ax.set_xticks(range(k), names, rotation=45 if k > 10 else 0)
    ax.set_yticks(range(k), names)
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    ax.set(xlabel="predicted class", ylabel="true class",
           title=title or f"confusion matrix (accuracy {accuracy:.1%})")
    _save(fig, path)
    return fig
