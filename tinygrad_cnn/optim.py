"""Optimizers: SGD (momentum, Nesterov, weight decay), Adam and AdamW, with PyTorch's
update rules, and state dicts to resume training bit for bit.

A step changes each parameter in place (the Tensor object, and so every reference to
it, sees the new values; the dtype is kept) and skips parameters whose `.grad` is None.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import numpy as np

from .grad_mode import no_grad
from .tensor import Tensor


def _number(opt: str, name: str, value: Any) -> float:
    """A hyperparameter as a float; a string or other non-number is a TypeError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{opt}: {name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{opt}: invalid {name} {value} (it must be a finite number ≥ 0)")
    return value


class Optimizer:
    """Holds the parameters to update and their per-parameter state; subclasses
    implement `_update(i, p, g)` for one parameter.

    Args:
        params: the Tensors to update (e.g. `model.parameters()`).
        lr: the learning rate; change it between steps with `opt.lr = ...`.

    Example:
        ```python
        opt = tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for X, y in tc.data.batches(X_train, y_train, 32):
            opt.zero_grad()
            tc.cross_entropy(model(X), y).backward()
            opt.step()
        ```
    """

    # hyperparameters saved in state_dict (besides the per-parameter state)
    hyperparameters: tuple[str, ...] = ("lr",)
    # per-parameter state arrays, by the names PyTorch gives them
    state_names: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        name = type(self).__name__
        from .nn.module import Module  # late: nn imports this package's Tensor side first

        if isinstance(params, Module):
            raise TypeError(f"{name}: got a Module; pass its parameters: {name}(model.parameters(), lr=...)")
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params must be an iterable of Tensors; wrap a single one in a list: [{params.name or 'p'}]")
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{name}: got an empty parameter list (does the model register its layers? "
                             "assign them as attributes of a tc.nn.Module)")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: parameter {i} is a {type(p).__name__}, not a Tensor")
            if p.dtype.kind != "f":
                raise TypeError(f"{name}: parameter {i} has dtype {p.dtype}; only float parameters can be trained")
        self.lr = _number(name, "learning rate lr", lr)
        self.state: list[dict[str, np.ndarray]] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        """Forget accumulated gradients (grads become None, as PyTorch's default)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        for i, p in enumerate(self.params):
            if p.grad is not None and not p.data.flags.writeable:
                raise ValueError(
                    f"{type(self).__name__}.step: parameter {i} ({p.name or 'unnamed'}, shape {p.shape}) holds a "
                    "read-only array; give the Tensor a writable copy: Tensor(array.copy(), requires_grad=True)"
                )
        for i, p in enumerate(self.params):
            if p.grad is not None:
                self._update(i, p, p.grad)

    def _update(self, i: int, p: Tensor, g: np.ndarray) -> None:
        raise NotImplementedError

    def _check(self, values: Mapping[str, float]) -> None:
        """Refuse hyperparameters the constructor would refuse (each subclass its rules);
        `load_state_dict` checks what it reads with it too."""

    @staticmethod
    def _apply(p: Tensor, delta: np.ndarray) -> None:
        """p ← p − delta, in place in p's array and dtype (its version counts up, so a
        graph that saved the old values refuses to backpropagate through them)."""
        with no_grad():
            p.sub_(delta)

    # ----- saving and resuming ------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Hyperparameters and per-parameter state as a flat name -> array dict (copies),
        so `tc.save(optimizer.state_dict(), path)` writes it: `"lr"`, `"state.0.exp_avg"`, ..."""
        result = {name: np.asarray(getattr(self, name), dtype=np.float64) for name in self.hyperparameters}
        for i, st in enumerate(self.state):
            for key, value in st.items():
                result[f"state.{i}.{key}"] = np.array(value, copy=True)
        return result

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what `state_dict()` returned (copies), so training continues exactly as
        if it had not stopped. Everything is checked before anything changes."""
        name = type(self).__name__
        missing = [k for k in self.hyperparameters if k not in state_dict]
        if missing:
            raise ValueError(f"{name}.load_state_dict: missing keys {missing}; is it an optimizer state dict of {name}?")
        state: list[dict[str, np.ndarray]] = [{} for _ in self.params]
        for key, value in state_dict.items():
            if key in self.hyperparameters:
                continue
            parts = key.split(".")
            if len(parts) != 3 or parts[0] != "state" or not parts[1].isdigit() or parts[2] not in self.state_names:
                raise ValueError(f"{name}.load_state_dict: unexpected key {key!r}")
            i = int(parts[1])
            if i >= len(self.params):
                raise ValueError(f"{name}.load_state_dict: {key!r} is for parameter {i}, but this optimizer has "
                                 f"{len(self.params)} parameters")
            array = np.array(value.data if isinstance(value, Tensor) else value, copy=True)
            p = self.params[i]
            expected = () if parts[2] == "step" else p.shape
            if array.shape != expected:
                raise ValueError(f"{name}.load_state_dict: {key!r} has shape {array.shape}, parameter {i} needs {expected}")
            state[i][parts[2]] = array if parts[2] == "step" else array.astype(p.dtype)
        for i, st in enumerate(state):
            if st and len(st) != len(self.state_names):  # a step needs all of it
                raise ValueError(f"{name}.load_state_dict: parameter {i} has state {sorted(st)}; it needs all of "
                                 f"{list(self.state_names)} or none")
        values = {k: _number(name, k, np.asarray(state_dict[k]).item()) for k in self.hyperparameters}
        self._check(values)
        for k, v in values.items():
            setattr(self, k, bool(v) if k == "nesterov" else v)
        self.state = state


class SGD(Optimizer):
    """g ← g + λ·p (weight decay λ); with momentum μ: v ← μ·v + g (v = g on the first step),
    then g ← v, or g ← g + μ·v with Nesterov; p ← p − lr·g.

    Args:
        params: the Tensors to update.
        lr: the learning rate (required).
        momentum: μ (default 0).
        weight_decay: λ (default 0).
        nesterov: use Nesterov momentum (needs momentum > 0).
    """

    hyperparameters = ("lr", "momentum", "weight_decay", "nesterov")
    state_names = ("momentum_buffer",)

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(params, lr)
        self.momentum = _number("SGD", "momentum", momentum)
        self.weight_decay = _number("SGD", "weight_decay", weight_decay)
        if not isinstance(nesterov, (bool, np.bool_, int, float, np.integer, np.floating)):
            raise TypeError(f"SGD: nesterov must be True or False, got {nesterov!r}")
        self._check({"momentum": self.momentum, "nesterov": float(nesterov)})
        self.nesterov = bool(nesterov)

    def _check(self, values: Mapping[str, float]) -> None:
        if values["nesterov"] not in (0.0, 1.0):
            raise TypeError(f"SGD: nesterov must be True or False, got {values['nesterov']!r}")
        if values["nesterov"] and values["momentum"] == 0:
            raise ValueError("SGD: nesterov=True needs a momentum > 0")

    def _update(self, i: int, p: Tensor, g: np.ndarray) -> None:
        if self.weight_decay:
            g = g + self.weight_decay * p.data
        if self.momentum:
            st = self.state[i]
            v = st.get("momentum_buffer")
            if v is None:
                v = st["momentum_buffer"] = np.array(g, dtype=p.dtype, copy=True)
            else:
                v *= self.momentum
                v += g
            g = g + self.momentum * v if self.nesterov else v
        self._apply(p, self.lr * g)

    @property
    def velocity(self) -> list[np.ndarray | None]:
        """The momentum buffers (None before a parameter's first step)."""
        return [st.get("momentum_buffer") for st in self.state]


class Adam(Optimizer):
    """g ← g + λ·p (weight decay λ, added to the gradient)
    m ← β1·m + (1 − β1)·g,  v ← β2·v + (1 − β2)·g²,  t ← t + 1
    p ← p − lr · m̂ / (√v̂ + ε)  with  m̂ = m / (1 − β1^t),  v̂ = v / (1 − β2^t)

    The step count t is kept per parameter, as PyTorch does, so a parameter that had
    no gradient for a while gets its bias correction from its own updates.

    Args:
        params: the Tensors to update.
        lr: the learning rate (default 0.001).
        betas: (β1, β2) (default (0.9, 0.999)).
        eps: ε (default 1e-8).
        weight_decay: λ, added to the gradient (default 0; see `AdamW` for the decoupled form).
    """

    hyperparameters = ("lr", "beta1", "beta2", "eps", "weight_decay")
    state_names = ("step", "exp_avg", "exp_avg_sq")
    _decoupled = False  # AdamW: the decay shrinks p directly instead of joining g

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        name = type(self).__name__
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{name}: betas must be a pair (β1, β2), got {betas!r}")
        b1, b2 = (_number(name, "beta", b) for b in betas)
        self._check({"beta1": b1, "beta2": b2})
        self.beta1, self.beta2 = b1, b2
        self.eps = _number(name, "eps", eps)
        self.weight_decay = _number(name, "weight_decay", weight_decay)

    def _check(self, values: Mapping[str, float]) -> None:
        if not (values["beta1"] < 1 and values["beta2"] < 1):
            raise ValueError(f"{type(self).__name__}: betas must lie in [0, 1), got {(values['beta1'], values['beta2'])}")

    @property
    def betas(self) -> tuple[float, float]:
        """(β1, β2), as given."""
        return self.beta1, self.beta2

    @property
    def t(self) -> list[int]:
        """Steps taken, per parameter."""
        return [int(st["step"]) if "step" in st else 0 for st in self.state]

    def _update(self, i: int, p: Tensor, g: np.ndarray) -> None:
        b1, b2 = self.beta1, self.beta2
        if self.weight_decay:
            if self._decoupled:
                with no_grad():
                    p.mul_(1 - self.lr * self.weight_decay)
            else:
                g = g + self.weight_decay * p.data
        st = self.state[i]
        if "step" not in st:
            st["step"] = np.array(0, dtype=np.int64)
            st["exp_avg"], st["exp_avg_sq"] = np.zeros_like(p.data), np.zeros_like(p.data)
        m, v = st["exp_avg"], st["exp_avg_sq"]
        st["step"] = st["step"] + 1
        t = int(st["step"])
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        # PyTorch's arrangement of the same formula: lr/(1−β1^t) · m / (√v/√(1−β2^t) + ε)
        denom = np.sqrt(v) / math.sqrt(1 - b2**t) + self.eps
        self._apply(p, (self.lr / (1 - b1**t)) * m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay: p ← p·(1 − lr·λ) before the Adam step (whose
    gradient carries no decay term). The default λ is 0.01, as PyTorch's.

    Args:
        params: the Tensors to update.
        lr: the learning rate (default 0.001).
        betas: (β1, β2) (default (0.9, 0.999)).
        eps: ε (default 1e-8).
        weight_decay: λ (default 0.01).
    """

    _decoupled = True

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)
