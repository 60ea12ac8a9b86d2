"""edu_nn.viz: every plot writes a PNG that opens, and returns its Figure; importing edu_nn,
edu_nn.train or edu_nn.viz does not import matplotlib (or tqdm)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import edu_nn
from edu_nn import nn, optim
from edu_nn.train import RecordMagnitudes, fit


def test_imports_stay_free_of_matplotlib_and_tqdm():
    code = ("import sys, edu_nn, edu_nn.train, edu_nn.viz; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('matplotlib', 'tqdm', 'PIL')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


matplotlib = pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.image import imread  # noqa: E402

from edu_nn.viz import (confusion_matrix, plot_confusion_matrix,  # noqa: E402
                        plot_decision_boundary, plot_learning_curves,
                        plot_weight_grad_magnitudes)


def check_png(fig, path):
    assert isinstance(fig, Figure)
    assert path.stat().st_size > 1000
    image = imread(path)                 # it opens as an image
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert image.std() > 0               # not a blank canvas


@pytest.fixture(scope="module")
def trained():
    """A small sigmoid MLP on 2-d data, trained with magnitudes recorded."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 2)).astype(np.float32)
    y = ((x[:, 0] * x[:, 1]) > 0).astype(np.int64)          # XOR-like quadrants
    loader = [(edu_nn.tensor(x[i:i + 16]), edu_nn.tensor(y[i:i + 16])) for i in range(0, 96, 16)]
    edu_nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.Sigmoid(), nn.Linear(16, 16), nn.Sigmoid(),
                          nn.Linear(16, 2))
    opt = optim.Adam(model.parameters(), lr=0.05)
    recorder = RecordMagnitudes()
    history = fit(model, nn.CrossEntropyLoss(), opt, loader, loader, epochs=4,
                  scheduler=optim.lr_scheduler.StepLR(opt, 1, 0.5), callbacks=[recorder])
    return model, x, y, history, recorder


def test_learning_curves(trained, tmp_path):
    _, _, _, history, _ = trained
    fig = plot_learning_curves(history, tmp_path / "sub" / "curves.png")
    check_png(fig, tmp_path / "sub" / "curves.png")
    assert len(fig.axes) == 3                 # loss, accuracy, lr (it changed)
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert [label for label in labels if not label.startswith("_")] == ["train", "val"]
    # to_dict() and a plain dict of lists work too; without a path nothing is written
    assert isinstance(plot_learning_curves(history.to_dict()), Figure)
    fig = plot_learning_curves({"loss": [1.0, 0.5, 0.2]})
    assert len(fig.axes) == 1
    with pytest.raises(ValueError, match="empty"):
        plot_learning_curves({"loss": []})


def test_weight_grad_magnitudes(trained, tmp_path):
    _, _, _, _, recorder = trained
    fig = plot_weight_grad_magnitudes(recorder, tmp_path / "mag.png")
    check_png(fig, tmp_path / "mag.png")
    assert len(fig.axes[1].lines) == 3        # one gradient curve per weight matrix
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), recorder.grads["0.weight"])
    with pytest.raises(ValueError, match="nothing was recorded"):
        plot_weight_grad_magnitudes(RecordMagnitudes())


def test_decision_boundary(trained, tmp_path):
    model, x, y, _, _ = trained
    fig = plot_decision_boundary(model, x, y, tmp_path / "boundary.png", resolution=60)
    check_png(fig, tmp_path / "boundary.png")
    assert model.training is False            # the mode it had is restored
    # a binary model with one logit, inputs given as Tensors
    edu_nn.manual_seed(0)
    fig = plot_decision_boundary(nn.Linear(2, 1), edu_nn.tensor(x), edu_nn.tensor(y),
                                 tmp_path / "linear.png", resolution=30)
    check_png(fig, tmp_path / "linear.png")
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        plot_decision_boundary(model, np.zeros((5, 3)), np.zeros(5))


def test_confusion_matrix(tmp_path):
    y_true = np.array([0, 0, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0, 2])
    expected = np.array([[1, 1, 0], [0, 2, 0], [1, 0, 2]])   # by hand
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred), expected)
    logits = np.eye(3)[y_pred]
    np.testing.assert_array_equal(confusion_matrix(y_true, logits), expected)
    fig = plot_confusion_matrix(y_true, y_pred, tmp_path / "cm.png",
                                class_names=["cat", "dog", "bird"])
    check_png(fig, tmp_path / "cm.png")
    assert "71.4%" in fig.axes[0].get_title()                  # 5 of 7 right
    fig = plot_confusion_matrix(edu_nn.tensor(y_true), edu_nn.tensor(y_pred),
                                tmp_path / "cm_norm.png", normalize=True)
    check_png(fig, tmp_path / "cm_norm.png")
    with pytest.raises(ValueError, match="7 true labels but 6"):
        confusion_matrix(y_true, y_pred[:6])
