"""A GRU on MNIST-1D, as in Greydanus (2020), "Scaling Down Deep Learning" (GRU: ~91%).

    python examples/gru_mnist1d.py                  # 6000 steps, the paper's budget
    python examples/gru_mnist1d.py --steps 300      # a quick look
    python examples/gru_mnist1d.py --library torch --seed 1   # the same program on torch

``--library torch`` runs this very code with ``import torch`` in place of ``import edu_nn``
(the model, the loop and the data are the same), which gives the reference spread over seeds
that edu_nn's run is compared with in docs/torch_compat.md.

The paper's GRU (the mnist1d repository's models.GRU): each 40-sample signal is a sequence
of 40 scalars; a bidirectional GRU with 6 hidden units reads it, and a Linear layer maps
all 40 x 12 outputs to the 10 classes. Adam, lr 1e-2, batches of 100, 6000 steps, test
accuracy on the canonical 1000 test signals. Writes the test-accuracy curve to
docs/figures/gru_mnist1d.png and the numbers to docs/figures/gru_mnist1d.json.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

import edu_nn
from edu_nn.data import load_mnist1d


def gru_classifier(lib, hidden_size: int = 6, time_steps: int = 40, classes: int = 10):
    """The paper's model in library ``lib`` (edu_nn or torch): x (N, 40) -> logits (N, 10)."""

    class GRUClassifier(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = lib.nn.GRU(1, hidden_size, batch_first=True, bidirectional=True)
            self.linear = lib.nn.Linear(2 * hidden_size * time_steps, classes)

        def forward(self, x):
            output, _ = self.gru(x.unsqueeze(-1))          # (N, 40, 12)
            return self.linear(output.reshape(output.shape[0], -1))

    return GRUClassifier()


def accuracy(lib, model, x, y) -> float:
    model.eval()
    with lib.no_grad():
        pred = model(x).argmax(1)
    model.train()
    return float((pred == y).float().mean().item())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backend", default="numpy", help="edu_nn's array backend")
    ap.add_argument("--library", choices=("edu_nn", "torch"), default="edu_nn",
                    help="run the same program with torch instead (the reference)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "docs",
                                                  "figures", "gru_mnist1d"))
    args = ap.parse_args()
    if args.library == "torch":
        import torch as lib
    else:
        lib = edu_nn
        edu_nn.set_backend(args.backend)
    lib.manual_seed(args.seed)

    x_train, y_train = load_mnist1d("train")
    x_test, y_test = load_mnist1d("test")
    train = lib.utils.data.TensorDataset(lib.tensor(x_train), lib.tensor(y_train))
    x_test, y_test = lib.tensor(x_test), lib.tensor(y_test)
    # the shuffling order from the seed: an int for edu_nn's DataLoader, torch's Generator
    order = (args.seed if lib is edu_nn else lib.Generator().manual_seed(args.seed))
    loader = lib.utils.data.DataLoader(train, batch_size=100, shuffle=True, generator=order)

    model = gru_classifier(lib)
    opt = lib.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = lib.nn.CrossEntropyLoss()
    curve, step, start = [], 0, time.perf_counter()
    while step < args.steps:
        for xb, yb in loader:
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step % args.eval_every == 0 or step == args.steps:
                acc = accuracy(lib, model, x_test, y_test)
                curve.append((step, float(loss.item()), acc))
                print(f"step {step:5d}  train loss {loss.item():.3f}  test accuracy {acc:.1%}  "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)
            if step == args.steps:
                break

    final = curve[-1][2]
    result = {"steps": args.steps, "library": args.library,
              "backend": args.backend if args.library == "edu_nn" else "torch", "seed": args.seed,
              "final_test_accuracy": final, "best_test_accuracy": max(c[2] for c in curve),
              "paper": 0.91, "seconds": time.perf_counter() - start, "curve": curve}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(result, f, indent=1)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.5))
    steps, _, accs = zip(*curve)
    ax.plot(steps, np.array(accs) * 100, marker=".", label="edu_nn GRU (test)")
    ax.axhline(91, color="gray", ls="--", label="paper's GRU (~91%)")
    ax.set_xlabel("training step")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Bidirectional GRU(1, 6) on MNIST-1D")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(args.out + ".png", dpi=100)
    print(f"final test accuracy {final:.1%} (paper ~91%); wrote {args.out}.png/.json")


if __name__ == "__main__":
    main()
