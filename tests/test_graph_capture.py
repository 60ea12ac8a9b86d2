"""edu_nn.graph_capture: a define-by-run training step listed as a static graph (issue 16)."""
from __future__ import annotations

import numpy as np
import pytest

import edu_nn
from edu_nn import nn, optim
from edu_nn.graph_capture import capture
from edu_nn.nn import functional as F


def _model_and_step(backend_name, seed=0):
    rng = np.random.default_rng(seed)
    with edu_nn.use_backend(backend_name):
        edu_nn.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).double()
        opt = optim.Adam(model.parameters(), lr=0.05)
        x = edu_nn.tensor(rng.standard_normal((5, 4)), dtype="float64")
        y = edu_nn.tensor(np.array([0, 1, 0, 1, 1]))

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return model, step


def test_capture_lists_forward_backward_and_update_with_eager_values(backend_name):
    model, step = _model_and_step(backend_name)
    twin, twin_step = _model_and_step(backend_name)
    twin.load_state_dict(model.state_dict())
    for _ in range(2):
        step()
        twin_step()
    loss, graph = capture(step, backend=backend_name)
    twin_loss = twin_step()
    assert loss.item() == twin_loss.item()
    for p, q in zip(model.parameters(), twin.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())

    prims = [r.prim for r in graph.records]
    # forward, then the hand-written backward, then one Adam update per parameter
    assert prims.index("linear") < prims.index("relu_backward") < prims.index("addcdiv")
    assert graph.count("addcdiv") == graph.count("lerp") == 4
    assert graph.count("linear") == 2
    # the parameters, optimizer state and data are inputs; the update reads them
    assert len(graph.inputs) >= 4 + 2 * 4 + 2
    text = str(graph)
    assert text.startswith(f"static graph on the {backend_name} backend")
    assert "= relu(%" in text and "lerp(in" in text
    # cross-entropy looks at a computed value from Python: a static graph's guard
    assert graph.host_syncs and text.count("! ") == len(graph.host_syncs)


def test_capture_leaves_the_backend_as_it_was_even_on_error(backend_name):
    b = edu_nn.get_backend(backend_name)

    def broken():
        edu_nn.tensor([1.0, 2.0], backend=backend_name).exp()
        raise ValueError("inside the step")
    with pytest.raises(ValueError, match="inside the step"):
        capture(broken, backend=backend_name)
    assert "exp" not in vars(b) and "add" not in vars(b)
