"""tinygrad_cnn: a small autograd framework for convolutional networks on numpy."""

from .anomaly import detect_anomaly
from .autograd import grad
from .gradcheck import GradcheckError, gradcheck, gradgradcheck, numerical_grad
from .ops.activation import elu, gelu, leaky_relu, silu, softplus
from .ops.conv import convolve2d, correlate2d
from .ops.elementwise import add, clip, exp, log, relu, sigmoid, tanh
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
from .ops.matmul import matmul
from .ops.shape import flip, rot180
from .function import Function
from .grad_mode import grad_mode, is_grad_enabled, no_grad, scope, set_grad_enabled
from .tensor import Tensor

from . import data, nn, optim
from .serialization import load, save
from . import viz
from . import onnx  # export only: the onnx package itself loads on the first export
from .viz import draw_graph

__version__ = "0.1.0"

__all__ = [
    "Function",
    "GradcheckError",
    "Tensor",
    "add",
    "bce",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "clip",
    "convolve2d",
    "data",
    "correlate2d",
    "cross_entropy",
    "detect_anomaly",
    "draw_graph",
    "elu",
    "exp",
    "flip",
    "gelu",
    "grad",
    "grad_mode",
    "gradcheck",
    "gradgradcheck",
    "is_grad_enabled",
    "leaky_relu",
    "load",
    "log",
    "log_softmax",
    "matmul",
    "mse_loss",
    "nll_loss",
    "nn",
    "no_grad",
    "numerical_grad",
    "onnx",
    "optim",
    "relu",
    "rot180",
    "save",
    "scope",
    "set_grad_enabled",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "tanh",
    "viz",
]
