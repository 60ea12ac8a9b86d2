"""Fused ops: several primitives in one Function, for speed and numerical stability.

``linear`` and ``cross_entropy`` could be composed from matmul, add, log_softmax and
indexing, and the tests check that they equal that composition. Fusing them halves the
number of graph nodes in a training step (dispatch cost matters for small models) and lets
cross-entropy's backward use the stable closed form softmax - onehot.
"""
from __future__ import annotations

from ..autograd.function import Function
from ..tensor import Tensor

__all__ = ["linear", "cross_entropy"]


class Linear(Function):
    """y = x @ W.T + b with torch's layout.

    x: (*, in_features); W: (out_features, in_features); b: (out_features,) or None;
    y: (*, out_features).
    """

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        xp = ctx.xp
        ctx.save_for_backward(x, weight)
        y = xp.matmul(x, xp.permute_dims(weight, (1, 0)))
        return y if bias is None else xp.add(y, bias)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        xp = ctx.xp
        need_x, need_w = ctx.needs_input_grad[:2]
        has_bias = len(ctx.needs_input_grad) == 3
        # Flatten leading dims: (*, out) -> (M, out) and (*, in) -> (M, in).
        g2 = grad if len(grad.shape) == 2 else xp.reshape(grad, (-1, grad.shape[-1]))
        gx = xp.matmul(grad, weight) if need_x else None
        gw = gb = None
        if need_w:
            x2 = x if len(x.shape) == 2 else xp.reshape(x, (-1, x.shape[-1]))
            gw = xp.matmul(xp.permute_dims(g2, (1, 0)), x2)
        if has_bias and ctx.needs_input_grad[2]:
            gb = xp.sum(g2, axis=0)
        return (gx, gw, gb) if has_bias else (gx, gw)


def linear(input, weight, bias=None):
    """``input @ weight.T + bias`` (torch.nn.functional.linear).

    input: (*, in_features); weight: (out_features, in_features); bias: (out_features,).
    """
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-d (out_features, in_features), got shape "
                         f"{weight.shape}")
    if input.ndim < 1 or input.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {input.shape} does not fit weight of shape "
                         f"{weight.shape}: the last dim of the input must be in_features = "
                         f"{weight.shape[1]}")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got {bias.shape}")
    return Linear.apply(input, weight, bias) if bias is not None else Linear.apply(input, weight)


class CrossEntropy(Function):
    """Softmax cross-entropy from logits.

    logits: (N, C). target: (N,) int64 class indices, or (N, C) class probabilities.
    reduction "mean" (over N), "sum" or "none" (shape (N,)).
    loss_n = logsumexp(logits_n) - logits_n[target_n]   (indices)
           = -sum_c target_nc * log_softmax(logits_n)_c  (probabilities)
    d loss_n / d logits_n = softmax(logits_n) * sum_c target_nc - target_n (one-hot for indices)
    """

    @staticmethod
    def forward(ctx, logits, target, reduction="mean"):
        xp = ctx.xp
        n, c = logits.shape
        shifted = xp.subtract(logits, xp.max(logits, axis=1, keepdims=True))
        exp = xp.exp(shifted)
        sumexp = xp.sum(exp, axis=1, keepdims=True)
        if xp.dtype_of(target).startswith("float"):
            logp = xp.subtract(shifted, xp.log(sumexp))
            per_sample = xp.negative(xp.sum(xp.multiply(target, logp), axis=1))
        else:  # loss_n = log(sum exp) - shifted[n, target_n]
            picked = xp.getitem(shifted, (xp.arange(n, device=ctx.device), target))
            per_sample = xp.subtract(xp.reshape(xp.log(sumexp), (n,)), picked)
        ctx.save_for_backward(exp, sumexp, target)
        ctx.reduction, ctx.n, ctx.c = reduction, n, c
        if reduction == "none":
            return per_sample
        total = xp.sum(per_sample)
        return xp.divide(total, float(n)) if reduction == "mean" else total

    @staticmethod
    def backward(ctx, grad):
        exp, sumexp, target = ctx.saved_tensors
        xp = ctx.xp
        probs = xp.divide(exp, sumexp)
        if xp.dtype_of(target).startswith("float"):
            # softmax * sum(target) - target (sum(target) = 1 for a proper distribution)
            d = xp.subtract(xp.multiply(probs, xp.sum(target, axis=1, keepdims=True)), target)
        else:  # softmax - onehot(target)
            classes = xp.reshape(xp.arange(ctx.c, device=ctx.device), (1, ctx.c))
            onehot = xp.equal(classes, xp.reshape(target, (ctx.n, 1)))
            d = xp.subtract(probs, xp.astype(onehot, xp.dtype_of(probs)))
        if ctx.reduction == "none":
            scale = xp.reshape(grad, (ctx.n, 1))
        elif ctx.reduction == "mean":
            scale = xp.divide(grad, float(ctx.n))
        else:
            scale = grad
        return xp.multiply(d, scale), None, None


def cross_entropy(input, target, reduction: str = "mean"):
    """Cross-entropy between logits and targets (torch.nn.functional.cross_entropy).

    input: (N, C) logits. target: (N,) int64 class indices in [0, C), or (N, C) class
    probabilities of input's dtype (they receive no gradient). reduction: "mean" | "sum" |
    "none" (shape (N,)).
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got "
                         f"{reduction!r}")
    if not isinstance(target, Tensor):
        raise TypeError(f"cross_entropy: target must be a Tensor (int64 class indices or class "
                        f"probabilities), got {type(target).__name__}")
    if input.ndim != 2:
        raise ValueError(f"cross_entropy: input must be (N, C) logits, got shape {input.shape}")
    n, c = input.shape
    if target.dtype.startswith("float"):
        if target.dtype != input.dtype:
            raise TypeError(f"cross_entropy: target probabilities are {target.dtype} but the "
                            f"logits are {input.dtype}; convert one first")
        if target.shape != input.shape:
            raise ValueError(f"cross_entropy: class-probability target must have the input's "
                             f"shape {input.shape}, got {target.shape}")
    elif target.dtype.startswith(("int", "uint")):
        if target.shape != (n,):
            raise ValueError(f"cross_entropy: class-index target must have shape ({n},) for "
                             f"input {input.shape}, got {target.shape}")
        xp = target.backend
        if n and (xp.item(xp.min(target.data)) < 0 or xp.item(xp.max(target.data)) >= c):
            values = xp.to_numpy(target.data)
            bad = values[(values < 0) | (values >= c)]
            raise IndexError(f"cross_entropy: target class {int(bad[0])} is out of range: the "
                             f"input has {c} classes, so targets must be in [0, {c - 1}]")
        if target.dtype != "int64":
            target = target.long()
    else:
        raise TypeError(f"cross_entropy: target must be int64 class indices or float class "
                        f"probabilities, got dtype {target.dtype}")
    return CrossEntropy.apply(input, target, reduction)
