"""Convolution and pooling benchmark (NumPy backend vs torch on the CPU): run
`python benchmarks/bench_conv.py`.

Prints, from one run, the time of forward + backward of
  1. F.conv2d on a batch of 64 1x28x28 images -> 16 channels, 3x3 kernel, padding 1, with
     bias (an MNIST first layer), edu_nn's NumPy backend against torch.nn.functional.conv2d,
     as a ratio (target <= 3x). Twice: with the input not requiring grad (a first layer:
     only the weight and bias gradients) and requiring it (a hidden layer: col2im too);
  2. for information: a hidden layer, conv2d 16 -> 32 channels 3x3 padding 1 on 14x14
     (batch 64, input grad too), and F.max_pool2d 2x2 on (64, 16, 28, 28).

Both sides get the same float32 arrays and the same random upstream gradient; their outputs
are checked to agree before timing. Timings are the best of several repeats, edu_nn and
torch measured in alternation (benchmarks/bench_core.py's paired_times), so a busy phase of
the machine hits both alike. The 1-minute load average is printed: on a shared machine,
compare ratios, not absolute times.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edu_nn  # noqa: E402
import edu_nn.nn.functional as F  # noqa: E402
from bench_core import paired_times  # noqa: E402

try:
    import torch
except ImportError:  # pragma: no cover
    sys.exit("bench_conv.py compares against torch: pip install torch")


def step_pair(edu_op, torch_op, arrays, grad_of, upstream):
    """(edu_step, torch_step): forward + backward of each op on the same float32 arrays.

    arrays: NumPy inputs of the op; grad_of: which of them require grad; upstream: the
    gradient fed to backward. Gradients are reset each step, as an optimizer's zero_grad."""
    edu_in = [edu_nn.tensor(a, requires_grad=g) for a, g in zip(arrays, grad_of)]
    torch_in = [torch.tensor(a, requires_grad=g) for a, g in zip(arrays, grad_of)]
    edu_up, torch_up = edu_nn.tensor(upstream), torch.tensor(upstream)

    def edu_step():
        edu_op(*edu_in).backward(edu_up)
        for t in edu_in:
            t.grad = None

    def torch_step():
        torch_op(*torch_in).backward(torch_up)
        for t in torch_in:
            t.grad = None

    # same math: outputs and gradients agree (float32 tolerances) before anything is timed
    out_e, out_t = edu_op(*edu_in), torch_op(*torch_in)
    np.testing.assert_allclose(out_e.detach().numpy(), out_t.detach().numpy(), rtol=1e-4,
                               atol=1e-4)
    out_e.backward(edu_up)
    out_t.backward(torch_up)
    for e, t in zip(edu_in, torch_in):
        if t.requires_grad:
            np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-3, atol=1e-3)
        e.grad = t.grad = None
    return edu_step, torch_step


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="edu_nn conv/pool benchmark")
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--number", type=int, default=20, help="steps per timed repeat")
    parser.add_argument("--torch-threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    w = (rng.standard_normal((16, 1, 3, 3)) / 3).astype(np.float32)
    b = (rng.standard_normal(16) / 10).astype(np.float32)
    up_conv = rng.standard_normal((64, 16, 28, 28)).astype(np.float32)
    h = rng.standard_normal((64, 16, 28, 28)).astype(np.float32)
    up_pool = rng.standard_normal((64, 16, 14, 14)).astype(np.float32)
    w2 = (rng.standard_normal((32, 16, 3, 3)) / 12).astype(np.float32)
    b2 = (rng.standard_normal(32) / 10).astype(np.float32)
    up_conv2 = rng.standard_normal((64, 32, 14, 14)).astype(np.float32)

    print(f"edu_nn {edu_nn.__version__} (NumPy backend, numpy {np.__version__}) vs torch "
          f"{torch.__version__} ({torch.get_num_threads()} threads), float32, forward + "
          f"backward, best of {args.repeat} x {args.number} steps")
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())} "
          f"on {os.cpu_count()} CPUs")
    cases = [
        ("conv2d 1->16 3x3 pad 1, x no grad", 3.0,
         lambda *a: F.conv2d(*a, padding=1), lambda *a: torch.nn.functional.conv2d(*a, padding=1),
         [x, w, b], [False, True, True], up_conv),
        ("conv2d 1->16 3x3 pad 1, x grad", 3.0,
         lambda *a: F.conv2d(*a, padding=1), lambda *a: torch.nn.functional.conv2d(*a, padding=1),
         [x, w, b], [True, True, True], up_conv),
        ("conv2d 16->32 3x3 pad 1 on 14x14", None,
         lambda *a: F.conv2d(*a, padding=1), lambda *a: torch.nn.functional.conv2d(*a, padding=1),
         [up_pool, w2, b2], [True, True, True], up_conv2),
        ("max_pool2d 2x2 on 16x28x28", None,
         lambda a: F.max_pool2d(a, 2), lambda a: torch.nn.functional.max_pool2d(a, 2),
         [h], [True], up_pool),
    ]
    for label, target, edu_op, torch_op, arrays, grad_of, upstream in cases:
        edu_step, torch_step = step_pair(edu_op, torch_op, arrays, grad_of, upstream)
        t_edu, t_torch = paired_times(edu_step, torch_step, args.number, args.repeat)
        ratio = t_edu / t_torch
        verdict = ("for information" if target is None else
                   f"{'meets' if ratio <= target else 'MISSES'} target <= {target:g}x")
        print(f"  {label:34s} batch 64: edu_nn {t_edu * 1e3:7.2f} ms  torch "
              f"{t_torch * 1e3:7.2f} ms  ratio {ratio:5.2f}x  ({verdict})")
    print(f"load average after:  {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
