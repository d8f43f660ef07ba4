"""Layers: `Module`, the containers, and the building blocks of CNNs (`tc.nn`)."""

from .conv import AvgPool2d, Conv2d, MaxPool2d
from .layers import Flatten, Linear, ReLU, Reshape, Sigmoid, Tanh
from .module import Module, Sequential, manual_seed

__all__ = ["AvgPool2d", "Conv2d", "MaxPool2d", "Flatten", "Linear", "Module", "ReLU", "Reshape", "Sequential", "Sigmoid", "Tanh", "manual_seed"]
