"""Layers: `Module`, `Parameter`, the containers, and the building blocks of CNNs (`tc.nn`)."""

from .conv import AvgPool2d, Conv2d, MaxPool2d
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
    "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv2d", "Dropout", "ELU", "Flatten", "GELU", "Identity",
    "IncompatibleKeys", "LeakyReLU", "Linear", "MaxPool2d", "Module", "ModuleList", "Parameter", "ReLU", "Reshape",
    "Sequential", "SiLU", "Sigmoid", "Softmax", "Softplus", "Tanh", "manual_seed",
]
