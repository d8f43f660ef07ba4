"""Layers: `Module`, `Parameter`, the containers, and the building blocks of CNNs (`tc.nn`)."""

from .conv import Conv2d
from .layers import (
    ELU,
    GELU,
    BatchNorm1d,
    BatchNorm2d,
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    Linear,
    ReLU,
    Reshape,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from .module import IncompatibleKeys, Module, ModuleList, Parameter, Sequential, manual_seed

__all__ = [
    "BatchNorm1d", "BatchNorm2d", "Conv2d", "Dropout", "ELU", "Flatten", "GELU", "Identity",
    "IncompatibleKeys", "LeakyReLU", "Linear", "Module", "ModuleList", "Parameter", "ReLU", "Reshape",
    "Sequential", "SiLU", "Sigmoid", "Softmax", "Softplus", "Tanh", "manual_seed",
]
