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
# # Karpathy's recipe: fix the seed, overfit one batch, read the curves, debug
#
# From "A Recipe for Training Neural Networks" (Karpathy 2019), as the lecture gives it:
# **fix the random seed** so that two runs are the same run; check the **loss at init**
# (ln C for C classes); **overfit a tiny batch** first (a model that cannot memorise 32
# examples has a bug); **plot** the training and validation curves and the weight and
# gradient magnitudes per layer; change one thing at a time. Then we debug a broken model.

# %% tags=["parameters"]
import os

BACKEND = os.environ.get("EDU_NN_BACKEND", "numpy")
EPOCHS = 12 if BACKEND == "numpy" else 6

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

import edu_nn
from edu_nn import nn, optim
from edu_nn.data import DataLoader, TensorDataset, get_arrays
from edu_nn.train import RecordMagnitudes, fit, overfit_one_batch
from edu_nn.viz import plot_learning_curves, plot_weight_grad_magnitudes

edu_nn.set_backend(BACKEND)
x_tr, y_tr = get_arrays("digits", split="train", seed=0)
x_va, y_va = get_arrays("digits", split="val", seed=0)
x_tr, x_va = x_tr.reshape(len(x_tr), -1), x_va.reshape(len(x_va), -1)


def make_model():
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                         nn.Linear(64, 10))


# %% [markdown]
# ## 1. Fix the seed: the same seed, the same run, to the last bit

# %%
def short_run(seed):
    edu_nn.manual_seed(seed)
    model = make_model()
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.05),
                  DataLoader(TensorDataset(x_tr, y_tr), batch_size=64, shuffle=True,
                             generator=seed), epochs=2, progress=False)
    return history["train_loss"]


a, b, c = short_run(0), short_run(0), short_run(1)
print(a, b, c)
assert a == b and a != c

# %% [markdown]
# ## 2. The loss at init, and overfitting one batch

# %%
edu_nn.manual_seed(0)
model = make_model()
batch = (edu_nn.tensor(x_tr[:32]), edu_nn.tensor(y_tr[:32]))
with edu_nn.no_grad():
    init_loss = nn.CrossEntropyLoss()(model(batch[0]), batch[1]).item()
print(f"loss at init {init_loss:.3f}, ln 10 = {math.log(10):.3f}")
assert abs(init_loss - math.log(10)) < 0.3
result = overfit_one_batch(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(),
                                                                     lr=1e-2), batch)
print(result.message)
assert result.success and result.accuracy == 1.0

# %% [markdown]
# ## 3. Read the curves: loss, accuracy, and weight/gradient magnitudes per layer

# %%
edu_nn.manual_seed(0)
model = make_model()
magnitudes = RecordMagnitudes(every="batch", every_n=5)
history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.05,
                                                      momentum=0.9),
              DataLoader(TensorDataset(x_tr, y_tr), batch_size=64, shuffle=True, generator=0),
              DataLoader(TensorDataset(x_va, y_va), batch_size=256), epochs=EPOCHS,
              callbacks=[magnitudes], progress=False)
display(plot_learning_curves(history))
plot_weight_grad_magnitudes(magnitudes)

# %% [markdown]
# Healthy curves: the training loss falls, the validation loss follows it, and the gradients
# are a small, stable fraction of the weights in every layer (a common rule of thumb: an
# update of about 1e-3 of the weight per step).

# %%
assert history["val_accuracy"][-1] > 0.9
assert history["train_loss"][-1] < history["train_loss"][0] / 5
for name, grads in magnitudes.grads.items():
    ratio = np.array(grads) / np.array(magnitudes.weights[name])
    assert np.all(np.isfinite(ratio)) and ratio.max() < 1.0, name

# %% [markdown]
# ## 4. Debug a broken model
# Three bugs students write, and what the one-batch test says about each.

# %%
class ProbabilitiesOut(nn.Module):
    """Bug: a softmax at the end, fed to CrossEntropyLoss (which wants logits)."""

    def __init__(self):
        super().__init__()
        self.net = make_model()

    def forward(self, x):
        return self.net(x).softmax(dim=1)


def check(model, lr, steps=200):
    return overfit_one_batch(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(),
                                                                     lr=lr), batch, steps=steps)


edu_nn.manual_seed(0)
too_high = check(make_model(), lr=50.0)
edu_nn.manual_seed(0)
stuck_result = check(make_model(), lr=1 // 10, steps=30)   # bug: integer division, lr = 0
edu_nn.manual_seed(0)
softmaxed = check(ProbabilitiesOut(), lr=0.1)
for name, r in [("lr 50", too_high), ("lr = 1 // 10", stuck_result),
                ("softmax + CrossEntropyLoss", softmaxed)]:
    print(f"--- {name}: success={r.success}\n{r.message}\n")
assert not too_high.success and not stuck_result.success and not softmaxed.success
assert "too high" in too_high.message                  # the loss went up
assert "did not move" in stuck_result.message          # nothing changed the parameters
assert softmaxed.final_loss > 2.0                      # still near ln 10 after 200 steps

fig, ax = plt.subplots(figsize=(6, 3))
for name, r in [("lr 50", too_high), ("lr 0", stuck_result), ("softmaxed", softmaxed),
                ("correct", result)]:
    ax.plot(r.losses, label=name)
ax.set_yscale("log"); ax.set_xlabel("step"); ax.set_ylabel("loss on one batch"); ax.legend()
plt.show()

# %% [markdown]
# ## Exercises
#
# 1. Why does the softmaxed model learn so slowly, although it is "almost" right?
# 2. Remove `optimizer.zero_grad()` from a hand-written loop. What do the curves look like?
# 3. What loss at init would you expect for a model whose last layer was initialised 100
#    times too large?
#
# <details><summary>Answers</summary>
#
# 1. CrossEntropyLoss applies log-softmax to what it gets: softmax of probabilities in
#    [0, 1] is nearly uniform, so the loss stays near ln 10 and its gradients are tiny.
# 2. Gradients accumulate across steps: the effective step grows, and the loss oscillates or
#    diverges.
# 3. Much larger than ln 10: large logits make confident, mostly wrong, predictions (the
#    one-batch check points this out).
#
# </details>
