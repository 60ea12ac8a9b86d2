"""A small CNN and a residual MLP on the 8x8 digits (scikit-learn's, shipped with edu_nn),
written with edu_nn.nn and edu_nn.optim exactly as they would be in torch (change the imports
and it runs there).

    python examples/digits_nn.py --model cnn --backend numpy
    python examples/digits_nn.py --model resmlp --backend jax

CNN:  (N, 1, 8, 8) -> [Conv2d 3x3 - BatchNorm2d - ReLU - MaxPool2d 2] x 2 -> Dropout -> Linear
Residual MLP: Linear - ReLU -> 2 x [Residual(Linear-BN-ReLU-Dropout-Linear-BN), ReLU]
              -> Dropout -> Linear
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import edu_nn
from edu_nn import nn, optim


def digits_cnn(channels: int = 16) -> nn.Module:
    """x: (N, 1, 8, 8) -> logits (N, 10)."""
    return nn.Sequential(
        nn.Conv2d(1, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(),
        nn.MaxPool2d(2),                                                    # (N, C, 4, 4)
        nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.BatchNorm2d(2 * channels), nn.ReLU(),
        nn.MaxPool2d(2),                                                    # (N, 2C, 2, 2)
        nn.Flatten(), nn.Dropout(0.25), nn.Linear(2 * channels * 4, 10))


def residual_mlp(hidden: int = 128, blocks: int = 2, dropout: float = 0.1) -> nn.Module:
    """x: (N, 1, 8, 8) -> logits (N, 10); each block computes relu(x + F(x)) with
    F = Linear - BatchNorm1d - ReLU - Dropout - Linear - BatchNorm1d."""
    layers = [nn.Flatten(), nn.Linear(64, hidden), nn.ReLU()]
    for _ in range(blocks):
        block = nn.Sequential(nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                              nn.Dropout(dropout), nn.Linear(hidden, hidden),
                              nn.BatchNorm1d(hidden))
        layers += [nn.Residual(block), nn.ReLU()]
    return nn.Sequential(*layers, nn.Dropout(dropout), nn.Linear(hidden, 10))


MODELS = {"cnn": digits_cnn, "resmlp": residual_mlp}
EPOCHS = {"cnn": 15, "resmlp": 20}


def load_digits_images(seed: int = 0, test_fraction: float = 0.2):
    """(x_train, x_test, y_train, y_test); x: (N, 1, 8, 8) float32 in [0, 1], y: int64.
    The digits ship with edu_nn; the split is stratified (each class 80/20) and fixed by seed."""
    from edu_nn.data import load_digits, train_val_test_split
    (x_train, y_train), (x_test, y_test) = train_val_test_split(
        load_digits(), (1 - test_fraction, test_fraction), seed=seed, stratify=True)
    return x_train, x_test, y_train, y_test


def predict(model: nn.Module, x: np.ndarray, backend=None) -> np.ndarray:
    """Class predictions (N,) in eval mode, without a graph."""
    model.eval()
    with edu_nn.no_grad():
        return model(edu_nn.tensor(x, backend=backend)).argmax(dim=1).numpy()


def train_digits(model_name: str = "cnn", epochs: int | None = None, batch_size: int = 64,
                 lr: float = 3e-3, seed: int = 0, backend=None, log=None):
    """Train with Adam and a cosine schedule; returns (model, test accuracy)."""
    epochs = EPOCHS[model_name] if epochs is None else epochs
    x_train, x_test, y_train, y_test = load_digits_images(seed)
    edu_nn.manual_seed(seed)       # the weights (drawn in NumPy: identical on every backend)
    model = MODELS[model_name]().to(backend=backend) if backend else MODELS[model_name]()
    optimizer = optim.Adam(model.parameters(), lr=lr)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    loss_fn = nn.CrossEntropyLoss()
    order_rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        model.train()
        order = order_rng.permutation(len(x_train))
        total = 0.0
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            if len(idx) < 2:  # BatchNorm needs more than one sample per batch
                continue
            xb = edu_nn.tensor(x_train[idx], backend=backend)
            yb = edu_nn.tensor(y_train[idx], backend=backend)
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        scheduler.step()
        if log:
            log(f"epoch {epoch + 1:2d}  train loss {total / len(x_train):.4f}")
    accuracy = float((predict(model, x_test, backend) == y_test).mean())
    return model, accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODELS), default="cnn")
    parser.add_argument("--backend", default=None, help="numpy (default), torch or jax")
    parser.add_argument("--epochs", type=int, default=None,
                        help="default: 15 for cnn, 20 for resmlp")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    model, acc = train_digits(args.model, args.epochs, lr=args.lr, seed=args.seed,
                              backend=args.backend, log=print)
    print(model)
    print(f"test accuracy {acc:.4f} ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
