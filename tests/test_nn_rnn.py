"""RNN, GRU, LSTM (and their cells) and adaptive average pooling against torch in float64
on every backend: torch's weights are copied in through ``load_state_dict`` (so the
parameter names and layouts must be torch's), then the outputs, final states, and the
gradients of the input, the initial state and every parameter under a random upstream
gradient must equal torch's.
"""
import os

import numpy as np
import pytest

import edu_nn
from edu_nn import nn

torch = pytest.importorskip("torch")

CONFIGS = [  # (kwargs, batched)
    (dict(), True),
    (dict(num_layers=2), True),
    (dict(batch_first=True), True),
    (dict(bidirectional=True), True),
    (dict(num_layers=2, bidirectional=True, batch_first=True), True),
    (dict(bias=False), True),
    (dict(), False),
    (dict(num_layers=2, bidirectional=True), False),
]
KINDS = [("RNN", {}), ("RNN", {"nonlinearity": "relu"}), ("GRU", {}), ("LSTM", {})]


def as_edu(t, backend, requires_grad=False):
    return edu_nn.tensor(t.detach().numpy(), backend=backend, requires_grad=requires_grad)


def copy_weights(torch_module, edu_module, backend):
    edu_module.load_state_dict({k: edu_nn.tensor(v.detach().numpy(), backend=backend)
                                for k, v in torch_module.state_dict().items()})


def assert_close(got, want, what):
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-10,
                               atol=1e-12, err_msg=what)


@pytest.mark.parametrize("kind,extra", KINDS, ids=[k + "".join(e.values()) for k, e in KINDS])
@pytest.mark.parametrize("kwargs,batched", CONFIGS,
                         ids=[f"{'-'.join(f'{k}={v}' for k, v in c.items()) or 'default'}"
                              f"{'' if b else '-unbatched'}" for c, b in CONFIGS])
def test_recurrent_layer_matches_torch(backend_name, kind, extra, kwargs, batched):
    gen = torch.Generator().manual_seed(0)
    L, N, C, H = 5, 3, 4, 6
    ref = getattr(torch.nn, kind)(C, H, **extra, **kwargs).double()
    mine = getattr(nn, kind)(C, H, **extra, **kwargs, dtype="float64", backend=backend_name)
    assert list(mine.state_dict()) == list(ref.state_dict()), "parameter names/order differ"
    copy_weights(ref, mine, backend_name)

    layers = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
    x_shape = ((N, L, C) if kwargs.get("batch_first") else (L, N, C)) if batched else (L, C)
    h_shape = (layers, N, H) if batched else (layers, H)
    x = torch.randn(*x_shape, dtype=torch.float64, generator=gen, requires_grad=True)
    states = [torch.randn(*h_shape, dtype=torch.float64, generator=gen, requires_grad=True)
              for _ in range(2 if kind == "LSTM" else 1)]
    x_e = as_edu(x, backend_name, True)
    states_e = [as_edu(s, backend_name, True) for s in states]
    hx, hx_e = (tuple(states), tuple(states_e)) if kind == "LSTM" else (states[0], states_e[0])

    out, final = ref(x, hx)
    out_e, final_e = mine(x_e, hx_e)
    finals = list(final) if kind == "LSTM" else [final]
    finals_e = list(final_e) if kind == "LSTM" else [final_e]
    assert_close(out_e, out, "output")
    for f_e, f in zip(finals_e, finals):
        assert_close(f_e, f, "final state")

    # one random upstream gradient for the output and every final state
    ups = [torch.randn(*t.shape, dtype=torch.float64, generator=gen) for t in [out, *finals]]
    torch.autograd.backward([out, *finals], ups)
    loss_e = (out_e * as_edu(ups[0], backend_name)).sum()
    for f_e, u in zip(finals_e, ups[1:]):
        loss_e = loss_e + (f_e * as_edu(u, backend_name)).sum()
    loss_e.backward()
    assert_close(x_e.grad, x.grad, "input gradient")
    for s_e, s in zip(states_e, states):
        assert_close(s_e.grad, s.grad, "initial-state gradient")
    ref_params = dict(ref.named_parameters())
    for name, p in mine.named_parameters():
        assert_close(p.grad, ref_params[name].grad, f"gradient of {name}")


@pytest.mark.parametrize("kind", ["RNNCell", "GRUCell", "LSTMCell"])
@pytest.mark.parametrize("batched", [True, False])
def test_cell_matches_torch(backend_name, kind, batched):
    gen = torch.Generator().manual_seed(1)
    ref = getattr(torch.nn, kind)(4, 5).double()
    mine = getattr(nn, kind)(4, 5, dtype="float64", backend=backend_name)
    assert list(mine.state_dict()) == list(ref.state_dict())
    copy_weights(ref, mine, backend_name)
    shape = (3,) if batched else ()
    x = torch.randn(*shape, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    states = [torch.randn(*shape, 5, dtype=torch.float64, generator=gen, requires_grad=True)
              for _ in range(2 if kind == "LSTMCell" else 1)]
    x_e = as_edu(x, backend_name, True)
    states_e = [as_edu(s, backend_name, True) for s in states]
    if kind == "LSTMCell":
        outs, outs_e = list(ref(x, tuple(states))), list(mine(x_e, tuple(states_e)))
    else:
        outs, outs_e = [ref(x, states[0])], [mine(x_e, states_e[0])]
    ups = [torch.randn(*o.shape, dtype=torch.float64, generator=gen) for o in outs]
    torch.autograd.backward(outs, ups)
    loss_e = (outs_e[0] * as_edu(ups[0], backend_name)).sum()
    for o_e, u in zip(outs_e[1:], ups[1:]):
        loss_e = loss_e + (o_e * as_edu(u, backend_name)).sum()
    loss_e.backward()
    for o_e, o in zip(outs_e, outs):
        assert_close(o_e, o, "output")
    assert_close(x_e.grad, x.grad, "input gradient")
    for s_e, s in zip(states_e, states):
        assert_close(s_e.grad, s.grad, "state gradient")
    ref_params = dict(ref.named_parameters())
    for name, p in mine.named_parameters():
        assert_close(p.grad, ref_params[name].grad, f"gradient of {name}")


def test_default_state_is_zeros_and_shapes_are_checked():
    gru = nn.GRU(3, 4, batch_first=True)
    x = edu_nn.randn(2, 5, 3)
    out, h = gru(x)
    out0, h0 = gru(x, edu_nn.zeros(1, 2, 4))
    np.testing.assert_array_equal(out.detach().numpy(), out0.detach().numpy())
    assert out.shape == (2, 5, 4) and h.shape == (1, 2, 4)
    with pytest.raises(ValueError, match="input_size=3"):
        gru(edu_nn.randn(2, 5, 7))
    with pytest.raises(ValueError, match=r"expected hidden state of shape \(1, 2, 4\)"):
        gru(x, edu_nn.zeros(2, 2, 4))
    with pytest.raises(TypeError, match=r"pair \(h0, c0\)"):
        nn.LSTM(3, 4)(edu_nn.randn(5, 2, 3), edu_nn.zeros(1, 2, 4))


@pytest.mark.parametrize("size,out", [((7,), 3), ((8,), 4), ((5,), 5), ((9,), 1)])
def test_adaptive_avg_pool1d_matches_torch(backend_name, size, out):
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, *size, dtype=torch.float64, generator=gen, requires_grad=True)
    x_e = as_edu(x, backend_name, True)
    y, y_e = torch.nn.AdaptiveAvgPool1d(out)(x), nn.AdaptiveAvgPool1d(out)(x_e)
    up = torch.randn(*y.shape, dtype=torch.float64, generator=gen)
    y.backward(up)
    (y_e * as_edu(up, backend_name)).sum().backward()
    assert_close(y_e, y, "forward")
    assert_close(x_e.grad, x.grad, "input gradient")


@pytest.mark.parametrize("size,out", [((7, 5), (3, 2)), ((8, 6), 2), ((6, 6), (None, 4)),
                                      ((5, 9), 1), ((3, 3), (5, 4))])
def test_adaptive_avg_pool2d_matches_torch(backend_name, size, out):
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, *size, dtype=torch.float64, generator=gen, requires_grad=True)
    x_e = as_edu(x, backend_name, True)
    y, y_e = torch.nn.AdaptiveAvgPool2d(out)(x), nn.AdaptiveAvgPool2d(out)(x_e)
    up = torch.randn(*y.shape, dtype=torch.float64, generator=gen)
    y.backward(up)
    (y_e * as_edu(up, backend_name)).sum().backward()
    assert_close(y_e, y, "forward")
    assert_close(x_e.grad, x.grad, "input gradient")


def test_one_hot_matches_torch():
    labels = [[0, 2], [3, 1]]
    got = nn.functional.one_hot(edu_nn.tensor(labels), 5)
    want = torch.nn.functional.one_hot(torch.tensor(labels), 5)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert got.dtype == "int64"
    with pytest.raises(ValueError, match=r"class values must be in \[0, 3\)"):
        nn.functional.one_hot(edu_nn.tensor([0, 3]), 3)


def test_gru_learns_mnist1d_quickly():
    """A short run of examples/gru_mnist1d.py's model (the full 6000-step run, ~90%, is in
    docs/torch_compat.md): 100 Adam steps must clearly beat chance (10%) and a linear
    model's ~32% (it reaches 43% with seed 0)."""
    from edu_nn.data import DataLoader, TensorDataset, load_mnist1d
    edu_nn.manual_seed(0)
    x, y = load_mnist1d("train")
    x_test, y_test = (edu_nn.tensor(a) for a in load_mnist1d("test"))
    gru, head = nn.GRU(1, 6, batch_first=True, bidirectional=True), nn.Linear(480, 10)
    params = list(gru.parameters()) + list(head.parameters())
    opt = edu_nn.optim.Adam(params, lr=1e-2)

    def logits(xb):
        out, _ = gru(xb.unsqueeze(-1))
        return head(out.reshape(out.shape[0], -1))

    loader = DataLoader(TensorDataset(edu_nn.tensor(x), edu_nn.tensor(y)), batch_size=100,
                        shuffle=True, generator=0)
    steps = 0
    while steps < 100:
        for xb, yb in loader:
            loss = nn.functional.cross_entropy(logits(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
            if steps == 100:
                break
    with edu_nn.no_grad():
        accuracy = (logits(x_test).argmax(1) == y_test).float().mean().item()
    assert accuracy > 0.38, f"GRU test accuracy after 100 steps: {accuracy:.1%}"


def test_gru_trains_like_torch_from_the_same_start():
    """examples/gru_mnist1d_vs_torch.py, 40 steps: edu_nn started from torch's parameters and
    fed torch's batch order follows torch's float32 training run (loss and test accuracy at
    every evaluation), which is what docs/torch_compat.md's paired GRU table rests on."""
    import json
    import subprocess
    import sys
    examples = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")
    out = subprocess.run([sys.executable, "gru_mnist1d_vs_torch.py", "--seed", "1",
                          "--steps", "40", "--eval-every", "20"], cwd=examples,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    evals = [line for line in lines if line.startswith("step")]
    assert len(evals) == 2, out.stdout
    for line in evals:  # "step N  torch: loss L test A%  edu_nn: loss L test A%"
        torch_part, edu_part = line.split("torch:")[1].split("edu_nn:")
        assert torch_part.split() == edu_part.split(), line
    result = json.loads(lines[-1])
    assert result["torch"]["final"] == result["edu_nn"]["final"]
    assert abs(result["torch"]["first_loss"] - result["edu_nn"]["first_loss"]) <= \
        1e-5 * result["torch"]["first_loss"]
