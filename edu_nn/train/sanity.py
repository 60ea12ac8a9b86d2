"""``overfit_one_batch``: Karpathy's first sanity check ("A Recipe for Training Neural
Networks", 2019): before training on the whole data set, make sure the model can drive the
loss on *one* small batch to about zero. A model that cannot memorize 32 examples has a bug
(the loss, the labels, a broken backward, an optimizer that never steps) or far too little
capacity; finding that out takes seconds instead of a wasted night of training.

    result = overfit_one_batch(model, nn.CrossEntropyLoss(),
                               optim.Adam(model.parameters(), lr=1e-2), (x[:32], y[:32]))
    print(result.message)            # "ok: the loss went from 2.31 to 0.0009 in 143 steps ..."
    assert result.success

The model and the optimizer are trained in place: build fresh ones for the real training.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..autograd import no_grad
from ..interop import to_numpy
from .fit import _forward, _loss_value, _unpack
from .metrics import accuracy as _accuracy

__all__ = ["overfit_one_batch", "OverfitResult"]


@dataclass
class OverfitResult:
    """What ``overfit_one_batch`` found. ``losses``: the training loss before each step;
    ``final_loss`` and ``accuracy`` (None for non-classification outputs) are measured after
    the last step in eval mode; ``success`` says whether the batch was memorized."""

    success: bool
    losses: list[float] = field(repr=False)
    final_loss: float
    accuracy: float | None
    steps: int
    message: str

    def __bool__(self) -> bool:
        return self.success


def _is_classification(output, target) -> bool:
    return (len(output.shape) == 2 and output.shape[1] > 1 and len(target.shape) == 1
            and not target.is_floating_point())


def _diagnose(losses: list[float], final: float, acc: float | None, target_loss: float,
              steps: int, classes: int | None) -> str:
    first = losses[0]
    init = ""
    if classes:
        # Karpathy's "verify loss @ init": small random logits give about ln(C).
        expected = math.log(classes)
        init = (f" The first loss was {first:.3g}; with small random weights cross-entropy "
                f"over {classes} classes starts near ln({classes}) = {expected:.3g}"
                + ("." if first < 3 * expected else
                   ": yours is much larger, so the initial weights may be too large."))
    if not math.isfinite(losses[-1]) or not math.isfinite(final):
        bad = losses[-1] if not math.isfinite(losses[-1]) else final
        return (f"failed: the loss became {bad} by step {len(losses) - 1}. The "
                f"learning rate is probably too high (try 10x smaller), or the loss takes the "
                f"log of 0 (pass logits, not probabilities, to CrossEntropyLoss).{init}")
    best = min(losses + [final])
    if abs(final - first) <= 1e-7 * max(1.0, abs(first)):
        return (f"failed: the loss did not move ({first:.4g} -> {final:.4g}) in {steps} steps. "
                f"Is the learning rate 0 or tiny? Did the optimizer get model.parameters()? "
                f"Are gradients reaching the parameters (look at p.grad after "
                f"loss.backward(); a detach() or no_grad() in forward cuts the graph)?{init}")
    if final > first:
        return (f"failed: the loss went UP from {first:.4g} to {final:.4g}. The learning rate "
                f"is probably too high: try 10x smaller. (Or a sign error: is the update "
                f"p - lr * grad?){init}")
    return (f"failed: the loss went down from {first:.4g} to {final:.4g} (best {best:.4g}) "
            f"but not below {target_loss:g}"
            + (f" and the accuracy is {acc:.1%}, not 100%" if acc is not None else "")
            + f", in {steps} steps. Try more steps or a larger learning rate; check that the "
            f"model has enough capacity (wider or deeper) and that regularization (dropout, "
            f"weight decay) is off for this test; check the labels match the inputs.{init}")


def overfit_one_batch(model, loss_fn, optimizer, batch, steps: int = 200,
                      target_loss: float = 1e-2) -> OverfitResult:
    """Train on one batch ``(inputs, targets)`` for up to ``steps`` steps.

    Stops as soon as the loss is below ``target_loss``. Success means the final loss (eval
    mode, no graph) is below ``target_loss``, or, for classification ((N, C) logits and
    integer labels), that every example is classified right. On failure, ``message``
    says what the curve suggests (lr too high or 0, no gradients, too little capacity).
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"overfit_one_batch: steps must be an int >= 1, got {steps!r}")
    x, y = _unpack(batch, "overfit_one_batch", 0)
    losses: list[float] = []
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(_forward(model, x), y)
        value = _loss_value(loss, "overfit_one_batch")
        losses.append(value)
        if not math.isfinite(value) or value <= target_loss:
            break
        loss.backward()
        optimizer.step()

    model.eval()
    with no_grad():
        output = _forward(model, x)
        final = _loss_value(loss_fn(output, y), "overfit_one_batch")
        classes = output.shape[1] if _is_classification(output, y) else None
        acc = _accuracy(to_numpy(output), to_numpy(y)) if classes else None
    model.train()

    taken = len(losses) if not losses or losses[-1] > target_loss else len(losses) - 1
    success = math.isfinite(final) and (final <= target_loss or acc == 1.0)
    if success:
        message = (f"ok: the loss went from {losses[0]:.4g} to {final:.4g} in {taken} steps"
                   + (f", accuracy {acc:.0%}" if acc is not None else "")
                   + ". The model can memorize one batch; now train on the full data.")
    else:
        message = _diagnose(losses, final, acc, target_loss, taken, classes)
    return OverfitResult(success, losses, final, acc, taken, message)
