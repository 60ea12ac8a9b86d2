"""The MNIST-1D GRU of examples/gru_mnist1d.py, trained by edu_nn and by torch from the same start.

    python examples/gru_mnist1d_vs_torch.py --seed 0            # 6000 steps, both libraries
    python examples/gru_mnist1d_vs_torch.py --seed 0 --steps 300

Seeds alone do not pair the two libraries (each draws its own initial weights and batch
order), so a gap between one edu_nn run and one torch run may be luck. Here torch draws the
initial parameters and the batch order for the seed, edu_nn gets exactly those (parameters
copied, the same index lists), and both train with Adam (lr 1e-2, batches of 100) in float32.
The two runs then differ only by float32 rounding, which chaos amplifies over thousands of
steps: the early losses agree closely, the final accuracies agree up to that noise. Prints
one JSON line with both curves' final and best test accuracies.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

import edu_nn
from edu_nn.data import load_mnist1d

from gru_mnist1d import accuracy, gru_classifier


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--eval-every", type=int, default=500)
    args = ap.parse_args()

    x_train, y_train = load_mnist1d("train")
    x_test, y_test = load_mnist1d("test")
    torch.manual_seed(args.seed)
    models = {"torch": gru_classifier(torch), "edu_nn": gru_classifier(edu_nn)}
    with edu_nn.no_grad():  # edu_nn starts from torch's parameters
        for (name, p), (name_e, q) in zip(models["torch"].named_parameters(),
                                          models["edu_nn"].named_parameters()):
            assert name == name_e, (name, name_e)
            q.copy_(edu_nn.tensor(p.detach().numpy()))
    libs = {"torch": torch, "edu_nn": edu_nn}
    data = {name: (lib.tensor(x_train), lib.tensor(y_train), lib.tensor(x_test),
                   lib.tensor(y_test)) for name, lib in libs.items()}
    opts = {name: libs[name].optim.Adam(m.parameters(), lr=1e-2) for name, m in models.items()}
    gen = torch.Generator().manual_seed(args.seed)
    curves = {name: [] for name in libs}
    step = 0
    while step < args.steps:
        order = torch.randperm(len(y_train), generator=gen).numpy()
        for start in range(0, len(order), 100):
            idx = order[start:start + 100]
            step += 1
            for name, lib in libs.items():
                x, y, xt, yt = data[name]
                index = lib.tensor(idx)
                loss = lib.nn.functional.cross_entropy(models[name](x[index]), y[index])
                opts[name].zero_grad()
                loss.backward()
                opts[name].step()
                if step % args.eval_every == 0 or step == args.steps:
                    curves[name].append((step, float(loss.item()),
                                         accuracy(lib, models[name], xt, yt)))
            if step % args.eval_every == 0 or step == args.steps:
                print(f"step {step:5d}  " + "  ".join(
                    f"{n}: loss {c[-1][1]:.4f} test {c[-1][2]:.1%}" for n, c in curves.items()),
                      flush=True)
            if step == args.steps:
                break
    print(json.dumps({"seed": args.seed, "steps": args.steps, **{
        name: {"final": c[-1][2], "best": max(a for _, _, a in c),
               "first_loss": c[0][1]} for name, c in curves.items()}}))


if __name__ == "__main__":
    main()
