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
# # Regularisation, and the playground: capacity and overfitting
#
# Cost = loss + regularisation. A model with enough capacity can fit its training set
# exactly, noise included; what we want is low error on data it has not seen. The tools:
# **L2** (weight decay, the Frobenius norm of each weight matrix) and **L1** penalties on the
# weights but not the intercepts, **dropout** (random units off while training, all on and
# unscaled at test time), **early stopping** (keep the epoch with the best validation loss)
# and **data augmentation** (more data, made by label-preserving transformations).

# %% tags=["parameters"]
import os

BACKEND = os.environ.get("EDU_NN_BACKEND", "numpy")
EPOCHS = 300 if BACKEND == "numpy" else 150

# %%
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

import edu_nn
from edu_nn import nn, optim
from edu_nn.data import DataLoader, TensorDataset, make_moons, make_spirals, transforms
from edu_nn.train import EarlyStopping, fit
from edu_nn.viz import plot_decision_boundary

edu_nn.set_backend(BACKEND)

# %% [markdown]
# ## The playground: more layers and more units draw richer maps
# Three spirals, and networks of growing size, each trained the same way.

# %%
x_sp, y_sp = make_spirals(n_samples=300, noise=0.2, seed=0)
xs, ys = edu_nn.tensor(x_sp), edu_nn.tensor(y_sp)


def train_full_batch(model, x, y, steps, lr=0.02, weight_decay=0.0, penalty=None):
    opt = optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        if penalty is not None:
            loss = loss + penalty(model)
        loss.backward()
        opt.step()
    model.eval()
    with edu_nn.no_grad():
        return float((model(x).argmax(dim=1).numpy() == y.numpy()).mean())


def mlp(hidden):
    edu_nn.manual_seed(0)
    layers, d = [], 2
    for h in hidden:
        layers += [nn.Linear(d, h), nn.ReLU()]
        d = h
    return nn.Sequential(*layers, nn.Linear(d, 3))


shapes = [(), (8,), (64, 64)]
playground = {}
for hidden in shapes:
    model = mlp(hidden)
    playground[hidden] = (model, train_full_batch(model, xs, ys, EPOCHS))
    print(f"hidden layers {hidden}: training accuracy {playground[hidden][1]:.2f}")
for hidden, (model, acc) in playground.items():
    fig = plot_decision_boundary(model, x_sp, y_sp, resolution=80,
                                 title=f"hidden {hidden}: train acc {acc:.2f}")
    display(fig)
accs = [playground[h][1] for h in shapes]
assert accs[0] < 0.7 < accs[2] and accs[0] < accs[1] < accs[2]   # linear < small < large

# %% [markdown]
# ## Overfitting, and L2 without the biases
# Forty noisy moons and a big network: it learns the training set by heart. The L2 penalty
# `nn.utils.l2_penalty(model)` is the sum of the squared weights of every layer, skipping the
# biases (penalising an intercept only shifts the model, it does not simplify it).

# %%
x_tr, y_tr = make_moons(n_samples=40, noise=0.3, seed=1)
x_te, y_te = make_moons(n_samples=1000, noise=0.3, seed=2)
big = lambda: nn.Sequential(nn.Linear(2, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),  # noqa: E731
                            nn.Linear(128, 2))
edu_nn.manual_seed(0)
plain = big()
penalty = nn.utils.l2_penalty(plain)
by_hand = sum(float((p.detach().numpy() ** 2).sum()) for name, p in plain.named_parameters()
              if not name.endswith("bias"))
assert abs(penalty.item() - by_hand) < 1e-3 * by_hand
print(f"L2 penalty {penalty.item():.3f} = sum of squared weights (biases skipped)")


def test_accuracy(model):
    model.eval()
    with edu_nn.no_grad():
        return float((model(edu_nn.tensor(x_te)).argmax(dim=1).numpy() == y_te).mean())


xt, yt = edu_nn.tensor(x_tr), edu_nn.tensor(y_tr)
train_plain = train_full_batch(plain, xt, yt, 2 * EPOCHS, lr=0.01)
edu_nn.manual_seed(0)
regular = big()
train_l2 = train_full_batch(regular, xt, yt, 2 * EPOCHS, lr=0.01,
                            penalty=lambda m: 3e-3 * nn.utils.l2_penalty(m))
norms = [float(np.sqrt(nn.utils.l2_penalty(m).item())) for m in (plain, regular)]
print(f"no penalty: train {train_plain:.2f} test {test_accuracy(plain):.3f} |W| {norms[0]:.1f}")
print(f"L2 3e-3:    train {train_l2:.2f} test {test_accuracy(regular):.3f} |W| {norms[1]:.1f}")
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
for ax, model, name in zip(axes, (plain, regular), ("no penalty", "L2")):
    g0, g1 = np.meshgrid(np.linspace(-2, 3, 80), np.linspace(-1.5, 2, 80))
    grid = np.stack([g0.ravel(), g1.ravel()], 1).astype(np.float32)
    with edu_nn.no_grad():
        z = model(edu_nn.tensor(grid)).argmax(dim=1).numpy().reshape(g0.shape)
    ax.contourf(g0, g1, z, alpha=0.3, cmap="coolwarm")
    ax.scatter(x_tr[:, 0], x_tr[:, 1], c=y_tr, cmap="coolwarm", edgecolor="k")
    ax.set_title(name)
plt.show()
assert train_plain == 1.0                     # memorised
assert norms[1] < norms[0] / 2                # the penalty keeps the weights small
assert test_accuracy(plain) < train_plain     # and unseen data is harder

# %% [markdown]
# ## Dropout: random at training time, off (and unscaled) at test time
# In train mode each unit is zeroed with probability p and the survivors are scaled by
# 1/(1 - p), so the expected activation is unchanged and eval mode needs no rescaling.

# %%
drop = nn.Dropout(p=0.5)
ones = edu_nn.ones(10_000)
drop.train()
out = drop(ones).numpy()
print("train: fraction zeroed", (out == 0).mean(), " survivors' value", out.max())
assert abs((out == 0).mean() - 0.5) < 0.03 and set(np.unique(out)) == {0.0, 2.0}
drop.eval()
assert (drop(ones).numpy() == 1.0).all()      # eval: the identity

# %% [markdown]
# ## Early stopping
# Train the big network with a validation set and stop when the validation loss has not
# improved for 20 epochs; `restore_best_weights` keeps the best epoch's weights.

# %%
x_val, y_val = make_moons(n_samples=200, noise=0.3, seed=3)
edu_nn.manual_seed(0)
model = big()
stopper = EarlyStopping(monitor="val_loss", patience=20)
history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.01),
              DataLoader(TensorDataset(x_tr, y_tr), batch_size=40),
              DataLoader(TensorDataset(x_val, y_val), batch_size=200), epochs=EPOCHS,
              callbacks=[stopper], progress=False)
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(history["train_loss"], label="train"); ax.plot(history["val_loss"], label="validation")
ax.axvline(stopper.best_epoch - 1, color="gray", ls=":", label="best epoch")
ax.set_xlabel("epoch"); ax.set_yscale("log"); ax.legend()
plt.show()
print("stopped at epoch", stopper.stopped_epoch, "best", stopper.best_epoch)
assert stopper.stopped_epoch is not None and stopper.stopped_epoch < EPOCHS
assert min(history["val_loss"]) < history["val_loss"][-1]   # it had started to overfit

# %% [markdown]
# ## Data augmentation
# Transformations that keep the label make new training examples: noise, shifts, flips.
# Here a 1-d signal and three augmented copies of it.

# %%
signal = np.sin(np.linspace(0, 3 * np.pi, 40)).astype(np.float32)[None, :]    # (C=1, L=40)
augment = transforms.Compose([transforms.RandomShift(4, circular=True),
                              transforms.GaussianNoise(0.1)])
copies = [augment(signal) for _ in range(3)]
fig, ax = plt.subplots(figsize=(6, 2.5))
ax.plot(signal[0], "k", lw=2, label="original")
for c in copies:
    ax.plot(np.asarray(c)[0], alpha=0.7)
ax.legend()
plt.show()
assert all(np.asarray(c).shape == signal.shape for c in copies)
assert not np.allclose(np.asarray(copies[0]), np.asarray(copies[1]))

# %% [markdown]
# ## Exercises
#
# 1. Add `nn.Dropout(0.3)` after each ReLU of `big()` and retrain on the forty moons. Test
#    accuracy? Remember `model.eval()` before testing.
# 2. Use `nn.utils.l1_penalty` instead of L2. Look at the first layer's weights: what is
#    different?
# 3. In the playground, which is cheaper for the spirals: more layers or more units?
#
# <details><summary>Answers</summary>
#
# 1. Usually a smoother boundary and a better test accuracy than the plain network.
#    Forgetting `eval()` makes test predictions random.
# 2. Many weights become exactly (or nearly) zero: L1 prefers sparse weights.
# 3. Depth: two layers of 64 units carve the spirals that one wide layer needs far more
#    units for.
#
# </details>
