# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Porting between frameworks: state_dict to PyTorch and JAX, and back
#
# Engineering a model means checkpointing it, monitoring it and, often, moving it to another
# framework. edu_nn uses torch's parameter names and weight layouts (`Linear.weight` is
# `(out_features, in_features)`, convolutions are NCHW/NCL), so a `state_dict` maps one to
# one onto a `torch.nn` model; for JAX, whose models are functions, the same arrays are the
# parameters of a pure function. Checkpoints (`edu_nn.save`) are `.npz` files: no pickle,
# readable by any of them.

# %% tags=["parameters"]
import os

BACKEND = os.environ.get("EDU_NN_BACKEND", "numpy")
EPOCHS = 5 if BACKEND == "numpy" else 3

# %%
import importlib.util
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import edu_nn
from edu_nn import nn, optim
from edu_nn.data import DataLoader, TensorDataset, get_arrays
from edu_nn.train import fit

edu_nn.set_backend(BACKEND)
HAVE_TORCH = importlib.util.find_spec("torch") is not None
HAVE_JAX = importlib.util.find_spec("jax") is not None

# %% [markdown]
# ## Train a small CNN in edu_nn, save a checkpoint

# %%
x_tr, y_tr = get_arrays("digits", split="train", seed=0)
x_te, y_te = get_arrays("digits", split="test", seed=0)
edu_nn.manual_seed(0)
model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Linear(8 * 4 * 4, 10))
history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2),
              DataLoader(TensorDataset(x_tr, y_tr), batch_size=64, shuffle=True, generator=0),
              epochs=EPOCHS, progress=False)
model.eval()
with edu_nn.no_grad():
    logits_edu = model(edu_nn.tensor(x_te)).numpy()
print("test accuracy", (logits_edu.argmax(1) == y_te).mean())
for name, value in model.state_dict().items():
    print(f"{name:10s} {tuple(value.shape)}")

checkpoint = Path(tempfile.mkdtemp()) / "cnn.npz"
edu_nn.save(model.state_dict(), checkpoint)
with np.load(checkpoint, allow_pickle=False) as npz:     # a plain .npz: no pickle inside
    print("arrays in the file:", sorted(npz.files))
arrays = {k: v.numpy() for k, v in edu_nn.load(checkpoint).items()}   # name -> NumPy array
assert set(arrays) == set(model.state_dict())
assert all(np.array_equal(arrays[k], v.numpy()) for k, v in model.state_dict().items())

# %% [markdown]
# ## Load it on another backend
# The same checkpoint loads into the same architecture on any backend.

# %%
for other in ["numpy"] + ["torch"] * HAVE_TORCH + ["jax"] * HAVE_JAX:
    clone = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(8 * 4 * 4, 10)).to(backend=other)
    clone.load_state_dict(edu_nn.load(checkpoint, backend=other))
    clone.eval()
    with edu_nn.no_grad():
        out = clone(edu_nn.tensor(x_te, backend=other)).numpy()
    print(other, "max difference", float(np.abs(out - logits_edu).max()))
    assert np.allclose(out, logits_edu, atol=1e-4)

# %% [markdown]
# ## To PyTorch: the same names, the same layouts

# %%
if HAVE_TORCH:
    import torch

    torch_model = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(),
                                      torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                                      torch.nn.Linear(8 * 4 * 4, 10))
    torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()})
    with torch.no_grad():
        logits_torch = torch_model(torch.from_numpy(x_te)).numpy()
    print("edu_nn vs torch, max difference:", float(np.abs(logits_torch - logits_edu).max()))
    assert np.allclose(logits_torch, logits_edu, atol=1e-4)

    # ... and back: train one step in torch, load its weights into edu_nn
    opt = torch.optim.SGD(torch_model.parameters(), lr=0.1)
    loss = torch.nn.functional.cross_entropy(torch_model(torch.from_numpy(x_tr[:64])),
                                             torch.from_numpy(y_tr[:64]))
    loss.backward()
    opt.step()
    model.load_state_dict({k: edu_nn.tensor(v.detach().numpy())
                           for k, v in torch_model.state_dict().items()})
    with torch.no_grad(), edu_nn.no_grad():
        back = model(edu_nn.tensor(x_te)).numpy()
        assert np.allclose(back, torch_model(torch.from_numpy(x_te)).numpy(), atol=1e-4)
    print("torch -> edu_nn: the outputs agree")

# %% [markdown]
# ## To JAX: the weights as the parameters of a pure function
# A JAX model is a function `f(params, x)`; here is the CNN written with `jax.lax`, fed the
# checkpoint's arrays, and differentiated with `jax.grad`.

# %%
if HAVE_JAX:
    import jax
    import jax.numpy as jnp

    def jax_cnn(params, x):                               # x: (N, 1, 8, 8), NCHW
        h = jax.lax.conv_general_dilated(x, params["0.weight"], (1, 1), ((1, 1), (1, 1)),
                                         dimension_numbers=("NCHW", "OIHW", "NCHW"))
        h = jax.nn.relu(h + params["0.bias"][None, :, None, None])
        h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        h = h.reshape(h.shape[0], -1)
        return h @ params["4.weight"].T + params["4.bias"]

    params = {k: jnp.asarray(v) for k, v in arrays.items()}
    logits_jax = np.asarray(jax.jit(jax_cnn)(params, jnp.asarray(x_te)))
    print("edu_nn vs JAX, max difference:", float(np.abs(logits_jax - logits_edu).max()))
    assert np.allclose(logits_jax, logits_edu, atol=1e-4)

    def loss_fn(params, x, y):
        logp = jax.nn.log_softmax(jax_cnn(params, x))
        return -jnp.mean(logp[jnp.arange(len(y)), y])

    grads = jax.grad(loss_fn)(params, jnp.asarray(x_tr[:64]), jnp.asarray(y_tr[:64]))
    edu_model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(8 * 4 * 4, 10))
    edu_model.load_state_dict(edu_nn.load(checkpoint))
    nn.CrossEntropyLoss()(edu_model(edu_nn.tensor(x_tr[:64])), edu_nn.tensor(y_tr[:64])
                          ).backward()
    for name, p in edu_model.named_parameters():          # the same gradients, too
        assert np.allclose(p.grad.numpy(), np.asarray(grads[name]), atol=1e-4), name
    print("edu_nn's gradients equal jax.grad's for every parameter")

# %%
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(history["train_loss"], "o-"); ax.set_xlabel("epoch"); ax.set_ylabel("training loss")
ax.set_title("the model we ported")
plt.show()

# %% [markdown]
# ## Exercises
#
# 1. Load the checkpoint into `nn.Sequential(nn.Conv2d(1, 8, 5, padding=2), ...)`. What does
#    `load_state_dict` say?
# 2. Why does JAX's convolution need `dimension_numbers`, while torch's does not?
# 3. Save the optimizer's state too (`optimizer.state_dict()`); why does resuming training
#    need it?
#
# <details><summary>Answers</summary>
#
# 1. It refuses with the parameter name and both shapes ((8, 1, 5, 5) vs (8, 1, 3, 3)):
#    a state_dict is matched by names and shapes.
# 2. JAX's convolution works with any layout; torch (and edu_nn) fix NCHW for inputs and
#    OIHW for kernels, so we tell JAX that's what the arrays are.
# 3. Adam's running moments (and momentum buffers) are part of the state: without them the
#    first steps after resuming behave like a fresh start.
#
# </details>
