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
# # Tutorial notebook: tensors, gradients and their graphs
#
# The first steps of the [tutorial](../../tutorial.md) as a notebook to run and change, with
# the graph of every expression drawn inline. Open it in Jupyter (`pip install jupytext`, then
# open `notebooks/tutorial.py` as a notebook, or `make notebooks` for `.ipynb` files).
#
# `tc.draw_graph` returns a `graphviz.Digraph`; Jupyter shows it as a picture when it is the
# last expression of a cell. Green boxes are parameters, grey ones constants, blue ones ops
# with their formulas; the red numbers are gradients.

# %%
import numpy as np

import tinygrad_cnn as tc
from tinygrad_cnn import Tensor

# %% [markdown]
# ## A tensor records the op that made it
#
# Python numbers and lists become float64. Mark what you want gradients for with
# `requires_grad=True`; `backward()` on a scalar fills in `.grad` for every tensor on the way.

# %%
a = Tensor([1.0, 2.0, 3.0], requires_grad=True, name="a")
b = Tensor([4.0, 5.0, 6.0], requires_grad=True, name="b")
c = a * b + 2
c.name = "c"
s = c.sum()
s.name = "s"
s.backward()
print("ds/da =", a.grad)  # = b
print("ds/db =", b.grad)  # = a
tc.draw_graph(s)

# %% [markdown]
# ## The example of the seed notes
#
# The $3\times3$ input and $2\times2$ kernel of [the seed notes](../../index.md#the-seed-notes):
# a cross-correlation, a sigmoid and binary cross-entropy against the identity matrix.

# %%
X = Tensor([[1, 6, 2], [5, 3, 1], [7, 0, 4]], requires_grad=True, name="X")
K = Tensor([[1, 2], [-1, 0]], requires_grad=True, name="K")
Y = tc.correlate2d(X, K)
Y.name = "Y"
P = Y.sigmoid()
P.name = "P"
E = tc.binary_cross_entropy(P, np.eye(2))
E.name = "E"
E.backward()
print(Y.data)  # [[8, 7], [4, 5]], as in the notes
assert np.allclose(K.grad, tc.correlate2d(X.data, Y.grad).data)  # dE/dK = X ⋆ dE/dY
assert np.allclose(X.grad, tc.convolve2d(Y.grad, K.data, mode="full").data)  # dE/dX = dE/dY *full K
tc.draw_graph(E)

# %% [markdown]
# ## Learning a kernel by gradient descent
#
# Recover the notes' kernel from 16 random images and their correlations with it: forward,
# loss, `backward()`, a step downhill.

# %%
rng = np.random.default_rng(0)
K_true = np.array([[[[1.0, 2.0], [-1.0, 0.0]]]])
images = rng.standard_normal((16, 1, 5, 5))
targets = tc.correlate2d(images, K_true).data

K = Tensor(np.zeros((1, 1, 2, 2)), requires_grad=True, name="K")
for step in range(60):
    loss = ((tc.correlate2d(images, K) - targets) ** 2).mean()
    K.grad = None
    loss.backward()
    K.data -= 0.2 * K.grad
print(f"loss {loss.item():.1e}")
print(np.round(K.data[0, 0], 4) + 0.0)

# %% [markdown]
# The graph of the last step's loss (tensors of more than two dimensions are summarised as
# min / mean / max):

# %%
loss.name = "loss"
tc.draw_graph(loss)
