"""Recurrent layers with torch's names, shapes and parameter layouts: RNN, GRU, LSTM and
their one-step cells RNNCell, GRUCell, LSTMCell.

No new Functions: one step is a few ``linear``s, ``sigmoid``/``tanh`` and products, whose
hand-written backwards already exist, so backward through time is just the engine walking
the unrolled graph. (A student can read one step and see the equations.)

Parameter names and layouts are torch's, so ``load_state_dict`` takes a torch model's
weights: layer k (``_reverse`` for the backward direction of a bidirectional layer) has
``weight_ih_l{k}`` (G*H, input) and ``weight_hh_l{k}`` (G*H, H), ``bias_ih_l{k}`` and
``bias_hh_l{k}`` (G*H,), where G stacks the gates in torch's order:

    RNN   G=1   h' = tanh(W_ih x + b_ih + W_hh h + b_hh)          (or relu)
    GRU   G=3   r, z, n:  r = σ(W_ir x + b_ir + W_hr h + b_hr)
                          z = σ(W_iz x + b_iz + W_hz h + b_hz)
                          n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
                          h' = (1 - z) * n + z * h
    LSTM  G=4   i, f, g, o:  c' = σ(f) * c + σ(i) * tanh(g);  h' = σ(o) * tanh(c')

Every weight starts from U(-1/sqrt(H), 1/sqrt(H)), as in torch.

Shapes (L: sequence length, N: batch, D: 2 if bidirectional else 1):
    input  (L, N, input_size), or (N, L, input_size) with batch_first=True, or unbatched
           (L, input_size)
    h0     (D * num_layers, N, hidden_size) (unbatched: without N); zeros when omitted
    output (L, N, D * hidden_size) (batch_first: (N, L, ...)): the last layer's h at every step
    h_n    (D * num_layers, N, hidden_size): every layer's last h (LSTM: (h_n, c_n))
"""
from __future__ import annotations

import math

from ... import ops
from ...ops.dropout import dropout
from ...ops.fused import linear
from .. import init
from ..parameter import new_parameter
from .module import Module

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "GRU": 3, "LSTM": 4}


# ---------------------------------------------------------------- one step
def _rnn_step(x_proj, h, w_hh, b_hh, relu: bool):
    pre = x_proj + linear(h, w_hh, b_hh)
    return ops.relu(pre) if relu else ops.tanh(pre)


def _gru_step(x_proj, h, w_hh, b_hh):
    xr, xz, xn = ops.chunk(x_proj, 3, -1)
    hr, hz, hn = ops.chunk(linear(h, w_hh, b_hh), 3, -1)
    r = ops.sigmoid(xr + hr)
    z = ops.sigmoid(xz + hz)
    n = ops.tanh(xn + r * hn)
    return (1 - z) * n + z * h


def _lstm_step(x_proj, h, c, w_hh, b_hh):
    i, f, g, o = ops.chunk(x_proj + linear(h, w_hh, b_hh), 4, -1)
    c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
    return ops.sigmoid(o) * ops.tanh(c), c


class RNNBase(Module):
    """Shared by RNN, GRU and LSTM: parameters, input checks and the loop over layers."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device=None, dtype=None, *, backend=None) -> None:
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size),
                            ("num_layers", num_layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{type(self).__name__}: {name} must be a positive int, got "
                                 f"{value!r}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{type(self).__name__}: dropout must be in [0, 1], got {dropout}")
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional = float(dropout), bidirectional
        gates = _GATES[mode] * hidden_size
        factory = dict(dtype=dtype, device=device, backend=backend)
        directions = 2 if bidirectional else 1
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * directions
            for suffix in ("", "_reverse")[:directions]:
                setattr(self, f"weight_ih_l{layer}{suffix}", new_parameter(gates, layer_input, **factory))
                setattr(self, f"weight_hh_l{layer}{suffix}", new_parameter(gates, hidden_size, **factory))
                if bias:
                    setattr(self, f"bias_ih_l{layer}{suffix}", new_parameter(gates, **factory))
                    setattr(self, f"bias_hh_l{layer}{suffix}", new_parameter(gates, **factory))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _weights(self, layer: int, suffix: str):
        get = lambda kind: getattr(self, f"{kind}_l{layer}{suffix}", None)  # noqa: E731
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")

    def _check_input(self, input, hx):
        """(input as (L, N, C), whether it was batched); clear errors for wrong shapes."""
        name = type(self).__name__
        if input.ndim not in (2, 3):
            raise ValueError(f"{name}: expected input of shape (L, N, {self.input_size}) "
                             f"{'(batch_first: (N, L, ...)) ' if self.batch_first else ''}or "
                             f"unbatched (L, {self.input_size}), got {tuple(input.shape)}")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{name}: input's last dim is {input.shape[-1]} but input_size="
                             f"{self.input_size} (input shape {tuple(input.shape)})")
        batched = input.ndim == 3
        if not batched:
            input = ops.unsqueeze(input, 1)
        elif self.batch_first:
            input = ops.transpose(input, 0, 1)
        return input, batched

    def _initial_state(self, hx, input, batched: bool):
        """h0 (or c0) as (D*num_layers, N, H); zeros when None."""
        layers = self.num_layers * (2 if self.bidirectional else 1)
        want = (layers, input.shape[1], self.hidden_size)
        if hx is None:
            return _zeros(input, want)
        if not batched:
            hx = ops.unsqueeze(hx, 1)
        if tuple(hx.shape) != want:
            shown = want if batched else (want[0], want[2])
            raise ValueError(f"{type(self).__name__}: expected hidden state of shape {shown}, "
                             f"got {tuple(hx.shape if batched else hx.shape[::2])}")
        return hx

    def _run(self, input, states: list):
        """Run every layer and direction. ``states``: one (D*num_layers, N, H) tensor per
        state (h; or h and c). Returns (output (L, N, D*H), final states as that list)."""
        directions = ("", "_reverse") if self.bidirectional else ("",)
        finals = [[] for _ in states]
        x = input
        for layer in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(directions):
                w_ih, w_hh, b_ih, b_hh = self._weights(layer, suffix)
                index = layer * len(directions) + d
                state = [s[index] for s in states]
                seq = ops.flip(x, 0) if suffix else x
                x_proj = linear(seq, w_ih, b_ih)  # all time steps at once: (L, N, G*H)
                hs = []
                for t in range(seq.shape[0]):
                    state = self._step(x_proj[t], state, w_hh, b_hh)
                    hs.append(state[0])
                out = ops.stack(hs, 0)
                outs.append(ops.flip(out, 0) if suffix else out)
                for f, s in zip(finals, state):
                    f.append(s)
            x = outs[0] if len(outs) == 1 else ops.cat(outs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = dropout(x, self.dropout, True)
        return x, [ops.stack(f, 0) for f in finals]

    def _finish(self, output, batched: bool):
        if not batched:
            return ops.squeeze(output, 1)
        return ops.transpose(output, 0, 1) if self.batch_first else output

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for name, default in (("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s


def _zeros(like, shape):
    from ...creation import zeros
    return zeros(shape, dtype=like.dtype, backend=like.backend, device=like.device)


def _squeeze_state(h, batched: bool):
    return h if batched else ops.squeeze(h, 1)


class RNN(RNNBase):
    """Elman RNN: h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (``nonlinearity="relu"``: relu).

    ``forward(input, h0=None) -> (output, h_n)``; shapes in the module docstring.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device=None, dtype=None,
                 *, backend=None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(f"RNN_{nonlinearity.upper()}", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, device, dtype, backend=backend)

    def _step(self, x_proj, state, w_hh, b_hh):
        return [_rnn_step(x_proj, state[0], w_hh, b_hh, self.nonlinearity == "relu")]

    def forward(self, input, hx=None):
        x, batched = self._check_input(input, hx)
        out, (h,) = self._run(x, [self._initial_state(hx, x, batched)])
        return self._finish(out, batched), _squeeze_state(h, batched)


class GRU(RNNBase):
    """Gated recurrent unit (torch's gate order r, z, n). ``forward(input, h0=None) ->
    (output, h_n)``; shapes in the module docstring."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__("GRU", *args, **kwargs)

    def _step(self, x_proj, state, w_hh, b_hh):
        return [_gru_step(x_proj, state[0], w_hh, b_hh)]

    def forward(self, input, hx=None):
        x, batched = self._check_input(input, hx)
        out, (h,) = self._run(x, [self._initial_state(hx, x, batched)])
        return self._finish(out, batched), _squeeze_state(h, batched)


class LSTM(RNNBase):
    """Long short-term memory (torch's gate order i, f, g, o). ``forward(input, (h0, c0)=None)
    -> (output, (h_n, c_n))``; shapes in the module docstring."""

    def __init__(self, *args, **kwargs) -> None:
        if kwargs.get("proj_size"):
            raise NotImplementedError("LSTM: proj_size is not supported in edu_nn")
        kwargs.pop("proj_size", None)
        super().__init__("LSTM", *args, **kwargs)

    def _step(self, x_proj, state, w_hh, b_hh):
        return list(_lstm_step(x_proj, state[0], state[1], w_hh, b_hh))

    def forward(self, input, hx=None):
        x, batched = self._check_input(input, hx)
        if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError("LSTM: the initial state must be a pair (h0, c0)")
        h0 = self._initial_state(None if hx is None else hx[0], x, batched)
        c0 = self._initial_state(None if hx is None else hx[1], x, batched)
        out, (h, c) = self._run(x, [h0, c0])
        return self._finish(out, batched), (_squeeze_state(h, batched),
                                             _squeeze_state(c, batched))


# ------------------------------------------------------------------- cells
class RNNCellBase(Module):
    def __init__(self, gates: int, input_size: int, hidden_size: int, bias: bool = True,
                 device=None, dtype=None, *, backend=None) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        factory = dict(dtype=dtype, device=device, backend=backend)
        self.weight_ih = new_parameter(gates * hidden_size, input_size, **factory)
        self.weight_hh = new_parameter(gates * hidden_size, hidden_size, **factory)
        if bias:
            self.bias_ih = new_parameter(gates * hidden_size, **factory)
            self.bias_hh = new_parameter(gates * hidden_size, **factory)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _prepare(self, input, hx):
        """(input as (N, C), h as (N, H), batched?); hx None -> zeros."""
        name = type(self).__name__
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected input of shape (N, {self.input_size}) or "
                             f"({self.input_size},), got {tuple(input.shape)}")
        batched = input.ndim == 2
        x = input if batched else ops.unsqueeze(input, 0)
        if hx is None:
            return x, _zeros(x, (x.shape[0], self.hidden_size)), batched
        h = hx if batched else ops.unsqueeze(hx, 0)
        if tuple(h.shape) != (x.shape[0], self.hidden_size):
            raise ValueError(f"{name}: expected hidden state of shape "
                             f"{(x.shape[0], self.hidden_size) if batched else (self.hidden_size,)}"
                             f", got {tuple(hx.shape)}")
        return x, h, batched

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


def _unbatch(t, batched: bool):
    return t if batched else ops.squeeze(t, 0)


class RNNCell(RNNCellBase):
    """One Elman step: (N, input_size), h (N, hidden_size) -> h' (N, hidden_size)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None, *, backend=None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got "
                             f"{nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(1, input_size, hidden_size, bias, device, dtype, backend=backend)

    def forward(self, input, hx=None):
        x, h, batched = self._prepare(input, hx)
        h = _rnn_step(linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh,
                      self.nonlinearity == "relu")
        return _unbatch(h, batched)


class GRUCell(RNNCellBase):
    """One GRU step: (N, input_size), h (N, hidden_size) -> h' (N, hidden_size)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None, *, backend=None) -> None:
        super().__init__(3, input_size, hidden_size, bias, device, dtype, backend=backend)

    def forward(self, input, hx=None):
        x, h, batched = self._prepare(input, hx)
        h = _gru_step(linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh)
        return _unbatch(h, batched)


class LSTMCell(RNNCellBase):
    """One LSTM step: (N, input_size), (h, c) each (N, hidden_size) -> (h', c')."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None, *, backend=None) -> None:
        super().__init__(4, input_size, hidden_size, bias, device, dtype, backend=backend)

    def forward(self, input, hx=None):
        if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError("LSTMCell: the state must be a pair (h, c)")
        x, h, batched = self._prepare(input, None if hx is None else hx[0])
        c = self._prepare(input, None if hx is None else hx[1])[1]
        h, c = _lstm_step(linear(x, self.weight_ih, self.bias_ih), h, c, self.weight_hh,
                          self.bias_hh)
        return _unbatch(h, batched), _unbatch(c, batched)
