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
# # Hyperparameter search: grid, random, coarse-to-fine
#
# The lecture's recipe: split the data 60/20/20 into training, validation and test sets;
# choose hyperparameters by the **validation** score; touch the test set once, at the end.
# For 2-3 hyperparameters a **grid** works; with more, **random search** tries more distinct
# values of the ones that matter (Bergstra & Bengio 2012); sample scale parameters such as
# the learning rate **log-uniformly**; search **coarse to fine**; **record every run**; train
# every trial with the **same seed**, so differences come from the configurations.

# %% tags=["parameters"]
import os

BACKEND = os.environ.get("EDU_NN_BACKEND", "numpy")
EPOCHS = 3 if BACKEND == "numpy" else 2

# %%
import json
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import edu_nn
from edu_nn import nn, optim
from edu_nn.data import DataLoader, TensorDataset, get_arrays
from edu_nn.train import (choice, coarse_to_fine, evaluate, fit, grid_search, loguniform,
                          random_search)

edu_nn.set_backend(BACKEND)
splits = {s: get_arrays("digits", split=s, seed=0) for s in ("train", "val", "test")}
sizes = {s: len(y) for s, (x, y) in splits.items()}
print(sizes)
total = sum(sizes.values())
assert all(abs(sizes[s] / total - f) < 0.01 for s, f in
           [("train", 0.6), ("val", 0.2), ("test", 0.2)])

# %% [markdown]
# One function trains with a configuration and a seed and returns the validation numbers.

# %%
def loader(split, shuffle=False):
    x, y = splits[split]
    return DataLoader(TensorDataset(x.reshape(len(x), -1), y), batch_size=64,
                      shuffle=shuffle, generator=0)


def make_model(hidden):
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def train_fn(config, seed):
    edu_nn.manual_seed(seed)
    model = make_model(config["hidden"])
    opt = optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9,
                    weight_decay=config.get("weight_decay", 0.0))
    history = fit(model, nn.CrossEntropyLoss(), opt, loader("train", True), loader("val"),
                  epochs=EPOCHS, progress=False)
    return {"val_accuracy": history["val_accuracy"][-1], "val_loss": history["val_loss"][-1]}


# %% [markdown]
# ## Grid search: every combination, recorded to a table

# %%
out = Path(tempfile.mkdtemp()) / "grid"
grid = grid_search(train_fn, {"lr": [1e-3, 1e-2, 1e-1], "hidden": [16, 64]},
                   metric="val_accuracy", out_dir=out)
for t in grid.trials:
    print(t["config"], f"val acc {t['result']['val_accuracy']:.3f}", "seed", t["seed"])
print("best:", grid.best_config)
recorded = json.loads((out / "trials.json").read_text())
assert len(grid.trials) == 6 and (out / "trials.csv").exists()
assert len(recorded["trials"]) == 6                          # every run recorded
assert {t["seed"] for t in grid.trials} == {0}                # the same seed for all
assert grid.best_result["val_accuracy"] == max(t["result"]["val_accuracy"]
                                               for t in grid.trials)

# %% [markdown]
# ## Random search, with the learning rate log-uniform
# A learning rate matters by its order of magnitude, so 1e-4..1 is sampled evenly in log10.

# %%
space = {"lr": loguniform(1e-4, 1.0), "weight_decay": loguniform(1e-6, 1e-2),
         "hidden": choice([16, 32, 64])}
rand = random_search(train_fn, space, n_trials=8, seed=0, metric="val_accuracy")
again = random_search(train_fn, space, n_trials=8, seed=0, metric="val_accuracy")
lrs = np.array([t["config"]["lr"] for t in rand.trials])
accs = np.array([t["result"]["val_accuracy"] for t in rand.trials])
print("sampled lr:", np.round(lrs, 5).tolist())
assert [t["config"] for t in rand.trials] == [t["config"] for t in again.trials]
assert [t["result"] for t in rand.trials] == [t["result"] for t in again.trials]
assert ((lrs >= 1e-4) & (lrs <= 1.0)).all() and len(set(lrs)) == 8
assert (lrs < 1e-2).sum() >= 2            # log-uniform: small rates are not starved

# %% [markdown]
# ## Coarse to fine
# Rounds of random search, each in a range shrunk around the best trial so far.

# %%
c2f = coarse_to_fine(train_fn, {"lr": loguniform(1e-4, 1.0), "hidden": 32}, rounds=2,
                     trials_per_round=4, seed=0, metric="val_accuracy")
for i, s in enumerate(c2f.spaces):
    print(f"round {i + 1}: lr in", s["lr"])
c2f_lrs = np.array([t["config"]["lr"] for t in c2f.trials])
round2 = c2f_lrs[4:]
assert len(c2f.trials) == 8
assert np.log10(round2.max() / round2.min()) <= 2.0       # the second round looks closer

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.scatter([t["config"]["lr"] for t in grid.trials],
           [t["result"]["val_accuracy"] for t in grid.trials], label="grid", marker="s")
ax.scatter(lrs, accs, label="random")
ax.scatter(c2f_lrs[:4], [t["result"]["val_accuracy"] for t in c2f.trials[:4]],
           label="coarse-to-fine, round 1", marker="^")
ax.scatter(round2, [t["result"]["val_accuracy"] for t in c2f.trials[4:]],
           label="coarse-to-fine, round 2", marker="v")
ax.set_xscale("log"); ax.set_xlabel("learning rate"); ax.set_ylabel("validation accuracy")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## Once, at the end: the test set
# Retrain the best configuration and report its test accuracy. It is close to its validation
# accuracy: the validation set did its job without being the test set.

# %%
best = max([grid, rand, c2f], key=lambda r: r.best_result["val_accuracy"])
edu_nn.manual_seed(0)
model = make_model(best.best_config["hidden"])
cfg = best.best_config
fit(model, nn.CrossEntropyLoss(),
    optim.SGD(model.parameters(), lr=cfg["lr"], momentum=0.9,
              weight_decay=cfg.get("weight_decay", 0.0)),
    loader("train", True), loader("val"), epochs=EPOCHS, progress=False)
test = evaluate(model, loader("test"), nn.CrossEntropyLoss())
print("best config:", cfg, " val", round(best.best_result["val_accuracy"], 3),
      " test", round(test["accuracy"], 3))
assert test["accuracy"] > 0.85
assert abs(test["accuracy"] - best.best_result["val_accuracy"]) < 0.08

# %% [markdown]
# ## Exercises
#
# 1. With 9 trials, how many distinct learning rates does a 3x3 grid try, and a random
#    search over the same two parameters?
# 2. Why must the test set not be used to pick the configuration?
# 3. Run `random_search` with `seed=1`. Do you get the same best configuration?
#
# <details><summary>Answers</summary>
#
# 1. The grid: 3. Random search: 9 (every trial draws its own value).
# 2. The chosen configuration would be tuned to the test set's noise too, so its test score
#    would overestimate the accuracy on new data.
# 3. Usually a different one with a similar score: near the optimum the landscape is flat,
#    and a few epochs of training are noisy.
#
# </details>
