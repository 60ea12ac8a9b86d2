"""Done-when of the core: an MLP built from core ops with a hand-rolled SGD loop reaches
>= 95% test accuracy on sklearn's digits (NumPy backend)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
from core_mlp import train_digits  # noqa: E402


def test_core_mlp_reaches_95_percent_on_digits():
    _, acc = train_digits(epochs=30, seed=0, backend="numpy")
    assert acc >= 0.95, f"test accuracy {acc:.3f} < 0.95"
