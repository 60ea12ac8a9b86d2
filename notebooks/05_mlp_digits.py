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
# # An MLP on digits: softmax, cross-entropy and the PyTorch training loop
#
# The lecture's classifier, h = g(XW + c) in batch: a multilayer perceptron maps a batch of
# images (N, 64) to scores (N, 10); the softmax turns scores into probabilities, and the loss
# is -ln P[y], the cross-entropy. Minibatch SGD: each epoch visits the training set once in a
# fresh random order, one minibatch per step.

# %% tags=["parameters"]
import os

BACKEND = os.environ.get("EDU_NN_BACKEND", "numpy")
EPOCHS = 8 if BACKEND == "numpy" else 4

# %%
import matplotlib.pyplot as plt
import numpy as np

import edu_nn
import edu_nn.nn.functional as F
from edu_nn import nn, optim
from edu_nn.data import DataLoader, TensorDataset, get_arrays

edu_nn.set_backend(BACKEND)
edu_nn.manual_seed(0)
x_train, y_train = get_arrays("digits", split="train", seed=0)    # 60% of 1797, stratified
x_test, y_test = get_arrays("digits", split="test", seed=0)       # 20%
print(x_train.shape, y_train.shape, x_test.shape)

fig, axes = plt.subplots(1, 8, figsize=(8, 1.3))
for ax, img, label in zip(axes, x_train, y_train):
    ax.imshow(img[0], cmap="gray_r"); ax.set_title(int(label)); ax.axis("off")
plt.show()

# %% [markdown]
# ## Softmax and -ln P[y], by hand and by edu_nn
# `F.cross_entropy` takes the scores (logits) and does log-softmax and the negative log
# likelihood in one stable op. Check it against the formula:

# %%
scores = edu_nn.tensor([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
labels = edu_nn.tensor([0, 2])
p = F.softmax(scores, dim=1).numpy()
by_hand = -np.mean(np.log(p[[0, 1], [0, 2]]))
print("softmax rows:", p.round(3).tolist(), " loss:", F.cross_entropy(scores, labels).item())
assert np.allclose(p.sum(axis=1), 1.0)
assert abs(F.cross_entropy(scores, labels).item() - by_hand) < 1e-6

# %% [markdown]
# ## The model and the training loop, line for line as in PyTorch

# %%
model = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
loss_fn = nn.CrossEntropyLoss()
optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.3)
loader = DataLoader(TensorDataset(x_train, y_train), batch_size=32, shuffle=True, generator=0)


# %% [markdown]
# The module hides the graph it builds; `draw_graph` shows it for one batch: the two
# `Linear` layers are matmuls plus biases, named by `model.named_parameters()`, with the
# parameters' gradients after `backward()`.

# %%
from edu_nn.viz import draw_graph

xb0, yb0 = next(iter(loader))
loss0 = loss_fn(model(xb0), yb0)
loss0.backward()
graph = draw_graph(loss0, params=dict(model.named_parameters()))
param_nodes = {n.label: n for n in graph.nodes if n.label in dict(model.named_parameters())}
assert set(param_nodes) == {"1.weight", "1.bias", "3.weight", "3.bias"}
assert all(n.grad is not None for n in param_nodes.values())
optimizer.zero_grad()
graph

# %% [markdown]
# Now the training loop.

# %%
def accuracy(x, y):
    model.eval()
    with edu_nn.no_grad():
        return float((model(edu_nn.tensor(x)).argmax(dim=1).numpy() == y).mean())


losses, test_acc = [], []
for epoch in range(EPOCHS):
    model.train()
    for i, (xb, yb) in enumerate(loader):
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if i % 10 == 0 and epoch == 0:
            print(f"epoch {epoch} batch {i:2d} loss {loss.item():.3f}")   # log every N batches
    scheduler.step()
    test_acc.append(accuracy(x_test, y_test))
    print(f"epoch {epoch}: test accuracy {test_acc[-1]:.3f}, lr {scheduler.get_last_lr()[0]:.3g}")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3))
ax1.plot(losses); ax1.set_yscale("log"); ax1.set_xlabel("step"); ax1.set_ylabel("batch loss")
ax2.plot(range(1, EPOCHS + 1), test_acc, "o-"); ax2.set_xlabel("epoch")
ax2.set_ylabel("test accuracy")
plt.show()

# %% [markdown]
# At the start the network guesses: the loss is about ln 10 = 2.3 (uniform over 10 classes).
# After a few epochs it classifies more than 95% of unseen digits.

# %%
assert abs(losses[0] - np.log(10)) < 0.3
assert test_acc[-1] > 0.93
assert np.mean(losses[-10:]) < 0.2

# %% [markdown]
# ## Exercises
#
# 1. Why is the first loss close to 2.3? What would it be with 100 classes?
# 2. Remove the `ReLU`. What accuracy does the (now linear) model reach?
# 3. Use `batch_size=1797` (full batch) for the same number of epochs. Why is it worse?
#
# <details><summary>Answers</summary>
#
# 1. Small random weights give almost equal scores, so P[y] ≈ 1/10 and -ln(1/10) = 2.30;
#    with 100 classes, ln 100 = 4.6.
# 2. Still good (around 95%): digits are nearly linearly separable; on harder data the gap
#    grows (tutorial 11).
# 3. One step per epoch instead of ~34: the same number of epochs makes far fewer updates.
#
# </details>
