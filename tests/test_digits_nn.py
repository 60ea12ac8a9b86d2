"""Done-when of the nn library: a small CNN (Conv2d-BatchNorm-ReLU-MaxPool twice, Dropout,
Linear) and a residual MLP reach >= 97% test accuracy on digits on each backend, and a
model saved on one backend loads on another and predicts identically.

Each backend trains from the same initial weights (drawn in NumPy) and batch order; only
the dropout masks differ (each backend's own RNG), so the accuracies differ a little.
"""
import os
import sys

import numpy as np
import pytest

import edu_nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
import digits_nn  # noqa: E402


@pytest.fixture(scope="module")
def trained():
    """Models trained on the NumPy backend, shared by the portability tests."""
    return {name: digits_nn.train_digits(name, seed=0, backend="numpy")
            for name in digits_nn.MODELS}


@pytest.mark.parametrize("model_name", sorted(digits_nn.MODELS))
def test_model_reaches_97_percent_on_digits(model_name, backend_name, trained):
    if backend_name == "numpy":
        _, acc = trained[model_name]
    else:
        _, acc = digits_nn.train_digits(model_name, seed=0, backend=backend_name)
    assert acc >= 0.97, f"{model_name} on {backend_name}: test accuracy {acc:.4f} < 0.97"


@pytest.mark.parametrize("model_name", sorted(digits_nn.MODELS))
def test_saved_on_numpy_loads_and_predicts_identically(model_name, backend_name, trained,
                                                       tmp_path):
    model, _ = trained[model_name]
    path = tmp_path / f"{model_name}.npz"
    edu_nn.save(model.state_dict(), path)
    x_test = digits_nn.load_digits_images(0)[1]
    want_logits = _logits(model, x_test, "numpy")
    edu_nn.manual_seed(12345)  # a fresh model with other weights, then the checkpoint
    other = digits_nn.MODELS[model_name]().to(backend=backend_name)
    other.load_state_dict(edu_nn.load(path, backend=backend_name))
    got_logits = _logits(other, x_test, backend_name)
    # float32 on several libraries: the same math in other orders, so equal to ~1e-5
    np.testing.assert_allclose(got_logits, want_logits, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(got_logits.argmax(1), want_logits.argmax(1))
    # and back: saved on this backend, loaded on NumPy
    edu_nn.save(other.state_dict(), tmp_path / "back.npz")
    again = digits_nn.MODELS[model_name]()
    again.load_state_dict(edu_nn.load(tmp_path / "back.npz"))
    np.testing.assert_array_equal(_logits(again, x_test, "numpy"), want_logits)


def _logits(model, x, backend):
    model.eval()
    with edu_nn.no_grad():
        return model(edu_nn.tensor(x, backend=backend)).numpy()
