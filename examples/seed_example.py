"""The seed notes' worked example, computed by the library: valid and full
cross-correlation, convolution, then sigmoid and binary cross-entropy with backward."""

import numpy as np

import tinygrad_cnn as tc

X = tc.Tensor([[1, 6, 2], [5, 3, 1], [7, 0, 4]], requires_grad=True, name="X")
K = tc.Tensor([[1, 2], [-1, 0]], requires_grad=True, name="K")

print("X ⋆ K (valid) =\n", tc.correlate2d(X, K).data)
print("X ⋆ K (full) =\n", tc.correlate2d(X, K, mode="full").data)
print("X * K = X ⋆ rot180(K) =\n", tc.convolve2d(X, K).data)

Y = tc.correlate2d(X, K)
Y.name = "Y"
P = Y.sigmoid()
P.name = "P"
E = tc.binary_cross_entropy(P, np.array([[1.0, 0.0], [0.0, 1.0]]))
E.name = "E"
E.backward()
print(f"E = {E.item():.6f}")
print("dE/dK = X ⋆ dE/dY =\n", K.grad)
print("dE/dX = dE/dY *full K =\n", X.grad)
