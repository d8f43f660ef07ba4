"""tinygrad_cnn: a small autograd framework for convolutional networks on numpy."""

from .anomaly import detect_anomaly
from .autograd import grad
from .gradcheck import GradcheckError, gradcheck, gradgradcheck, numerical_grad
from .ops.activation import elu, gelu, leaky_relu, silu, softplus
from .ops.conv import conv2d, conv_transpose2d, convolve2d, correlate2d
from .ops.loss import (
    bce,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    log_softmax,
    mse_loss,
    nll_loss,
    softmax,
)
from .ops.creation import arange, eye, full, ones, ones_like, rand, randn, zeros, zeros_like
from .ops.elementwise import (
    abs, add, clip, cos, exp, log, log1p, maximum, minimum, relu, sigmoid, sin, sqrt, tanh, where,
)
from .ops.index import getitem
from .ops.matmul import matmul
from .ops.pool import avg_pool2d, max_pool2d
from .ops.reduce import argmax, argmin, logsumexp, max, mean, min, std, sum, var
from .ops.shape import (
    astype, broadcast_to, cat, flip, pad, permute, reshape, rot180, split, squeeze, stack, transpose, unsqueeze,
)
from .function import Function
from .grad_mode import grad_mode, is_grad_enabled, no_grad, scope, set_grad_enabled
from .tensor import Tensor

from . import data, kernels, nn, optim
from .serialization import load, save
from . import viz
from . import onnx  # export only: the onnx package itself loads on the first export
from .viz import draw_graph

__version__ = "0.2.0"

__all__ = [
    "Function",
    "GradcheckError",
    "Tensor",
    "abs",
    "add",
    "arange",
    "argmax",
    "argmin",
    "astype",
    "avg_pool2d",
    "bce",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "broadcast_to",
    "cat",
    "clip",
    "conv2d",
    "conv_transpose2d",
    "convolve2d",
    "correlate2d",
    "cos",
    "cross_entropy",
    "data",
    "detect_anomaly",
    "draw_graph",
    "elu",
    "exp",
    "eye",
    "flip",
    "gelu",
    "full",
    "getitem",
    "grad",
    "grad_mode",
    "gradcheck",
    "gradgradcheck",
    "is_grad_enabled",
    "kernels",
    "leaky_relu",
    "load",
    "log",
    "log1p",
    "log_softmax",
    "logsumexp",
    "matmul",
    "mse_loss",
    "nll_loss",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "max_pool2d",
    "nn",
    "no_grad",
    "numerical_grad",
    "ones",
    "ones_like",
    "onnx",
    "optim",
    "pad",
    "permute",
    "rand",
    "randn",
    "relu",
    "reshape",
    "rot180",
    "save",
    "scope",
    "set_grad_enabled",
    "sigmoid",
    "silu",
    "sin",
    "softmax",
    "softplus",
    "split",
    "sqrt",
    "squeeze",
    "stack",
    "std",
    "sum",
    "tanh",
    "transpose",
    "unsqueeze",
    "var",
    "viz",
    "where",
    "zeros",
    "zeros_like",
]
