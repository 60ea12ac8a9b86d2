"""The main job: train an MLP built from edu_nn's core ops on the 8x8 digits (shipped with
edu_nn) and print the test accuracy.
Usage: python examples/train_digits_mlp.py [--backend numpy] [--epochs 30]"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from core_mlp import train_digits  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default=None, help="numpy (default), torch or jax")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    _, acc = train_digits(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                          seed=args.seed, backend=args.backend, log=print)
    print(f"test accuracy {acc:.4f} ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
