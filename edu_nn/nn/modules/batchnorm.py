"""``BatchNorm1d`` and ``BatchNorm2d`` with running statistics (torch's semantics and keys).

Training mode: normalise each channel with the batch's mean and (biased) variance, then
update the buffers running_mean <- (1 - momentum) running_mean + momentum batch_mean and the
same for running_var with the unbiased batch variance (momentum=None: a cumulative average).
Eval mode: normalise with the running statistics. Then y = weight * x_hat + bias.

state_dict keys: weight, bias, running_mean, running_var, num_batches_tracked (torch's).
"""
from __future__ import annotations

from ...creation import ones, zeros
from ...tensor import tensor
from .. import functional as F
from .. import init
from ..parameter import new_parameter
from .module import Module


class _BatchNorm(Module):
    _shapes = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None,
                 dtype=None, *, bias: bool = True, backend=None) -> None:
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features <= 0:
            raise ValueError(f"{type(self).__name__}: num_features must be a positive int (the "
                             f"number of channels C), got {num_features!r}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        factory = dict(dtype=dtype, device=device, backend=backend)
        if affine:
            self.weight = new_parameter(num_features, **factory)
        else:
            self.register_parameter("weight", None)
        if affine and bias:
            self.bias = new_parameter(num_features, **factory)
        else:
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, **factory))
            self.register_buffer("running_var", ones(num_features, **factory))
            self.register_buffer("num_batches_tracked",
                                 tensor(0, dtype="int64", backend=backend, device=device))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            t = self.num_batches_tracked
            t._set_array(t.backend.zeros_like(t.array))

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def _check_input(self, input) -> None:
        raise NotImplementedError

    def forward(self, input):
        self._check_input(input)
        if input.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}) expects "
                             f"{self.num_features} channels in dim 1 ({self._shapes}), got "
                             f"input of shape {tuple(input.shape)}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            t = self.num_batches_tracked
            # with a primitive, not item() + 1 in Python: edu_nn.compile replays it
            t._set_array(t.backend.add(t.array, t.backend.ones_like(t.array)))
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(t.backend.item(t.array))
        # Batch statistics in training, and also in eval when there are no running stats.
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if track else None,
                            self.running_var if track else None, self.weight, self.bias,
                            use_batch, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """x: (N, C) or (N, C, L); statistics per channel C."""
    _shapes = "input (N, C) or (N, C, L)"

    def _check_input(self, input) -> None:
        if input.ndim not in (2, 3):
            raise ValueError(f"BatchNorm1d expects 2-d (N, C) or 3-d (N, C, L) input, got "
                             f"{input.ndim}-d input of shape {tuple(input.shape)}"
                             + (" (use BatchNorm2d for images)" if input.ndim == 4 else ""))


class BatchNorm2d(_BatchNorm):
    """x: (N, C, H, W); statistics per channel C over N, H and W."""
    _shapes = "input (N, C, H, W)"

    def _check_input(self, input) -> None:
        if input.ndim != 4:
            raise ValueError(f"BatchNorm2d expects 4-d (N, C, H, W) input, got {input.ndim}-d "
                             f"input of shape {tuple(input.shape)}"
                             + (" (use BatchNorm1d for (N, C) features)" if input.ndim == 2
                                else ""))
