"""The model zoo of ``edu-nn train``: logistic regression, an MLP and a small CNN, built for
a dataset's input shape and number of outputs.

    model = build_model("cnn", input_shape=(1, 40), num_outputs=10)   # MNIST-1D
    model = build_model("mlp", input_shape=(2,), num_outputs=2)       # moons

Every model maps a batch x: (N, *input_shape) to (N, num_outputs) (logits for
classification, values for regression), is an ordinary ``nn.Sequential`` (print it, index
it, save its ``state_dict()``), and draws its initial weights from edu_nn's default generator
in NumPy, so ``edu_nn.manual_seed(s)`` before ``build_model`` gives the same weights on every
backend.

    logreg  Flatten -> Linear                      (multinomial logistic regression)
    mlp     Flatten -> [Linear -> ReLU] x len(hidden) -> Linear        (hidden=(100, 100))
    cnn     inputs (C, L), a signal: the MNIST-1D paper's ConvBase (three Conv1d, kernel 5/3/3,
            stride 2, padding 1) with a BatchNorm1d after each conv -> Linear
            inputs (C, H, W), an image: [Conv2d 3x3 -> BatchNorm2d -> ReLU -> MaxPool2d 2] x 2
            -> Linear
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

from .. import nn

__all__ = ["MODELS", "build_model", "logreg", "mlp", "cnn"]


def _features(input_shape: Sequence[int]) -> int:
    return math.prod(input_shape)


def logreg(input_shape: Sequence[int], num_outputs: int) -> nn.Module:
    """Multinomial logistic regression (softmax regression): x: (N, *input_shape) ->
    logits (N, num_outputs). With MSELoss and one output it is linear regression."""
    return nn.Sequential(nn.Flatten(), nn.Linear(_features(input_shape), num_outputs))


def mlp(input_shape: Sequence[int], num_outputs: int,
        hidden: Sequence[int] = (100, 100)) -> nn.Module:
    """A multilayer perceptron with ReLU: x: (N, *input_shape) -> (N, num_outputs).
    ``hidden`` lists the widths of the hidden layers (the MNIST-1D paper uses (100, 100))."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = _features(input_shape)
    for h in hidden:
        layers += [nn.Linear(width, int(h)), nn.ReLU()]
        width = int(h)
    layers.append(nn.Linear(width, num_outputs))
    return nn.Sequential(*layers)


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def cnn(input_shape: Sequence[int], num_outputs: int, channels: int = 32) -> nn.Module:
    """A small CNN for signals (C, L) or images (C, H, W); see the module doc.

    Signals: x: (N, C, L) -> three strided convs (L 40 -> 19 -> 10 -> 5 on MNIST-1D) ->
    Linear(channels * 5, num_outputs). Images: x: (N, C, H, W) -> two conv/pool stages
    (H, W -> H/4, W/4) -> Linear(2 * channels * H/4 * W/4, num_outputs).
    """
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 2:
        c, length = shape
        layers: list[nn.Module] = []
        for kernel in (5, 3, 3):
            if _conv_out(length, kernel, 2, 1) < 1:
                raise ValueError(f"cnn: inputs of shape {shape} are too short for three "
                                 f"stride-2 convolutions (need length >= 4)")
            layers += [nn.Conv1d(c, channels, kernel, stride=2, padding=1),
                       nn.BatchNorm1d(channels), nn.ReLU()]
            c, length = channels, _conv_out(length, kernel, 2, 1)
        return nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * length, num_outputs))
    if len(shape) == 3:
        c, h, w = shape
        if h < 4 or w < 4:
            raise ValueError(f"cnn: images of shape {shape} are too small for two 2x2 "
                             f"poolings (need H, W >= 4)")
        return nn.Sequential(
            nn.Conv2d(c, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.BatchNorm2d(2 * channels),
            nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(2 * channels * (h // 4) * (w // 4), num_outputs))
    raise ValueError(f"cnn needs inputs with channels and a spatial axis: a signal (C, L) "
                     f"or an image (C, H, W); these inputs have shape {shape}. Use "
                     f"--model mlp or --model logreg for flat feature vectors")


#: name -> builder(input_shape, num_outputs, **options)
MODELS: dict[str, Callable[..., nn.Module]] = {"logreg": logreg, "mlp": mlp, "cnn": cnn}


def build_model(name: str, input_shape: Sequence[int], num_outputs: int,
                **options) -> nn.Module:
    """The model ``name`` (one of :data:`MODELS`) for inputs of ``input_shape`` (one sample,
    without the batch dim) and ``num_outputs`` outputs. ``options`` go to the builder
    (``hidden=`` for mlp, ``channels=`` for cnn)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; the models are: {', '.join(MODELS)}")
    if isinstance(num_outputs, bool) or not isinstance(num_outputs, int) or num_outputs < 1:
        raise ValueError(f"{name}: num_outputs must be a positive int, got {num_outputs!r}")
    return MODELS[name](tuple(input_shape), num_outputs, **options)
