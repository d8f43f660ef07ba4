"""2-D cross-correlation (X ⋆ K), convolution (X * K = X ⋆ rot180(K)) and the
transposed convolution, with stride, padding, dilation and groups.

One channel, valid mode, for a kernel of size kh×kw:

    Y[a, b] = Σ_uv X[a+u, b+v] K[u, v]

By the chain rule each kernel entry collects every input value it touched, weighted by
the gradient of the output it helped to make, and each input entry collects every
kernel entry it met:

    dE/dK[u, v] = Σ_ab X[a+u, b+v] dE/dY[a, b]     ->  dE/dK = X ⋆ dE/dY   (valid)
    dE/dX[p, q] = Σ_uv dE/dY[p−u, q−v] K[u, v]     ->  dE/dX = dE/dY *full K

With channels, Y_i = Σ_j X_j ⋆ K_ij, so dE/dK_ij = X_j ⋆ dE/dY_i and
dE/dX_j = Σ_i dE/dY_i *full K_ij; a batch sums dE/dK over its samples.

The options generalise the same two formulas (derived on the docs' math page):

- stride s: Y[a, b] = Σ_uv X[a·s+u, b·s+v] K[u, v]. Only every s-th window is kept, so
  dE/dY is spread back with s − 1 zeros between its entries, dil_s(dE/dY):
  dE/dK = X ⋆ dil_s(dE/dY) and dE/dX = dil_s(dE/dY) *full K.
- padding p: X is padded with p zeros first (pad_p), so dE/dX is the gradient of the
  padded input with p rows and columns cropped off each side (crop_p).
- dilation d: the kernel's taps are d apart, i.e. K is dilated, dil_d(K). In dE/dK the
  taps become the step of the correlation (⋆_d: every d-th position).
- groups G: the channels split into G groups; the sum over j runs over the input
  channels of output i's group only.

The transposed convolution is the map dE/dY -> dE/dX of a convolution, given a name.

When the backward is recorded (`create_graph=True`) the formulas are evaluated with
these very ops (conv_transpose2d for dE/dX, correlate2d with dE/dY as its kernel for
dE/dK), so the gradient graph can be drawn and differentiated again. Otherwise the same
values come from the fast kernels in `tinygrad_cnn.kernels.im2col`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..kernels import im2col as kern
from ..kernels.im2col import Geometry, Pads
from ..function import Function
from ..grad_mode import is_grad_enabled
from ..tensor import ArrayLike, Tensor
from .elementwise import Grad, tensor
from .shape import rot180

MODES = ("valid", "full", "same")
# The variant key of the formulas with stride, padding, dilation and groups.
GENERAL = ("options", "stride/padding/dilation/groups")
Pair = tuple[int, int]


def _four(shape: tuple[int, ...]) -> tuple[int, ...]:
    """(H, W) and (C, H, W) as the (N, C, H, W) they stand for (kernels likewise)."""
    return (1,) * (4 - len(shape)) + tuple(shape)


def _out_shape(x: tuple[int, ...], o: int, ho: int, wo: int) -> tuple[int, ...]:
    return (ho, wo) if len(x) == 2 else x[:-3] + (o, ho, wo)


def _weight_grad_graph(x4: Tensor, g4: Tensor, geo: Geometry) -> Tensor:
    """dE/dK = pad_p(X) ⋆_d dil_s(dE/dY), recorded as one correlate2d: dE/dY is the kernel,
    dilated by the stride; samples take the place of channels, since dE/dK_ij sums
    X_nj ⋆ dE/dY_ni over the samples n (and the groups keep their channels apart)."""
    n, c, h, w = x4.shape
    G, cg = geo.groups, c // geo.groups
    if G == 1:
        xs = x4.transpose(1, 0, 2, 3)  # (C, N, H, W)
    else:  # (C/G, G·N, H, W): group g's samples are the input channels of group g
        xs = x4.reshape(n, G, cg, h, w).transpose(2, 1, 0, 3, 4).reshape(cg, G * n, h, w)
    dk = Correlate2d.apply(xs, g4.transpose(1, 0, 2, 3), stride=geo.dilation, padding=geo.tight_pads,
                           dilation=geo.stride, groups=G, mode=None)
    return dk.transpose(1, 0, 2, 3)  # (C/G, O, kh, kw) -> (O, C/G, kh, kw)


class Correlate2d(Function):
    """Y_i = Σ_j X_j ⋆ K_ij
    dE/dX_j = Σ_i dE/dY_i *full K_ij
    dE/dK_ij = X_j ⋆ dE/dY_i
    """

    name = "correlate2d"
    options = ("mode", "stride", "padding", "dilation", "groups", "_keep_cols")
    buffers = ("cols",)
    variants = {
        ("mode", "full"): """Y_i = Σ_j X_j ⋆full K_ij
        dE/dX_j = Σ_i dE/dY_i *valid K_ij
        dE/dK_ij = rot180(dE/dY_i ⋆ X_j)
        """,
        GENERAL: """Y_i = Σ_j pad_p(X_j) ⋆_s dil_d(K_ij)
        dE/dX_j = crop_p(Σ_i dil_s(dE/dY_i) *full dil_d(K_ij))
        dE/dK_ij = pad_p(X_j) ⋆_d dil_s(dE/dY_i)
        """,
    }
    flip = False  # convolution flips the kernel: X * K = X ⋆ rot180(K)
    # Options as the public functions pass them (stride 1, no padding: the seed's layer).
    stride: Pair = (1, 1)
    padding: Pads = (0, 0, 0, 0)
    dilation: Pair = (1, 1)
    groups = 1
    mode: str | None = "valid"  # the seed's word for the padding, None when given as numbers
    _keep_cols = True  # keep the im2col columns for dE/dK (only worth it when K needs a gradient)

    def applied_formulas(self) -> list[str]:
        """The seed's formulas for stride 1 and valid or full mode, else the general ones."""
        plain = self.stride == (1, 1) and self.dilation == (1, 1) and self.groups == 1
        if plain and self.padding == (0, 0, 0, 0):
            return self.formulas()
        if plain and self.mode == "full" and ("mode", "full") in self.variants:
            return self.formulas(("mode", "full"))
        return self.formulas(GENERAL) if GENERAL in self.variants else self.formulas()

    def _kernel(self, k4: Any) -> Any:
        """The kernel the correlation runs with: rot180(K) for a convolution."""
        if not self.flip:
            return k4
        return rot180(k4) if isinstance(k4, Tensor) else k4[..., ::-1, ::-1]

    def forward(self, x: np.ndarray, k: np.ndarray) -> np.ndarray:
        dtype = np.result_type(x, k)
        x4 = x.reshape(_four(x.shape)).astype(dtype, copy=False)
        k4 = self._kernel(k.reshape(_four(k.shape)).astype(dtype, copy=False))
        self._geo = geo = Geometry.of(x4.shape, k4.shape, self.stride, self.padding, self.dilation, self.groups)
        self._layout = layout = kern.choose_layout(geo)
        ys = []
        for part, pgeo in kern.parts(geo, dtype.itemsize):  # one part unless the columns are large
            cols = kern.im2col(x4[part], pgeo, layout)
            ys.append(kern.conv_gemm(cols, k4, pgeo, layout))
        self.cols = cols if self._keep_cols and len(ys) == 1 else None
        y = ys[0] if len(ys) == 1 else np.concatenate(ys)
        return y.reshape(_out_shape(x.shape, geo.o, geo.ho, geo.wo))

    def backward(self, g: Grad) -> tuple[Grad | None, Grad | None]:
        if isinstance(g, Tensor):
            return self._backward_graph(g)
        x, k = self.parents
        xa, ka = self.inputs(g)
        geo, layout = self._geo, self._layout
        g4 = g.reshape(geo.n, geo.o, geo.ho, geo.wo)
        x4 = xa.reshape(_four(xa.shape)).astype(g.dtype, copy=False)
        k4 = self._kernel(ka.reshape(_four(ka.shape)))
        dks, dxs = [], []
        for part, pgeo in kern.parts(geo, g.dtype.itemsize):  # as the forward split the batch
            gl = kern.to_layout(g4[part], layout)
            if k.requires_grad:  # dE/dK = X ⋆ dil_s(dE/dY): the forward's columns against dE/dY
                cols = getattr(self, "cols", None)  # (a buffer: gone after a backward)
                if cols is None:
                    cols = kern.im2col(x4[part], pgeo, layout)
                dks.append(kern.weight_grad(cols, gl, pgeo, layout))
                del cols
            if x.requires_grad:  # dE/dX = crop_p(dil_s(dE/dY) *full K): col2im
                dxs.append(kern.input_grad(gl, k4, pgeo, layout))
        dx = dk = None
        if dks:
            dk = self._kernel(sum(dks[1:], dks[0]))
            dk = np.ascontiguousarray(dk, dtype=k.dtype).reshape(k.shape)
        if dxs:
            dx = dxs[0] if len(dxs) == 1 else np.concatenate(dxs)
            dx = dx.astype(x.dtype, copy=False).reshape(x.shape)
        return dx, dk

    def _backward_graph(self, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
        """The formulas as ops, so the gradient can be drawn and differentiated again."""
        x, k = self.parents
        geo = self._geo
        if geo.stride == geo.dilation == (1, 1) and geo.groups == 1 and self.mode in ("valid", "full"):
            return self._seed_graph(g)
        x4, k4, g4 = (t.reshape(_four(t.shape)) for t in (x, k, g))
        dx = dk = None
        if x.requires_grad:  # crop_p(dil_s(dE/dY) *full dil_d(K))
            dx = ConvTranspose2d.apply(g4, self._kernel(k4), stride=geo.stride, padding=geo.pads,
                                       output_padding=geo.slack, dilation=geo.dilation, groups=geo.groups)
            dx = dx.reshape(x.shape)
        if k.requires_grad:  # pad_p(X) ⋆_d dil_s(dE/dY)
            dk = self._kernel(_weight_grad_graph(x4, g4, geo)).reshape(k.shape)
        return dx, dk

    def _seed_graph(self, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
        """The seed's layer (stride 1, valid or full): its formulas exactly as written,
        with batch and channel axes swapped where the sum runs over samples
        (dK_ij = Σ_n X_nj ⋆ dY_ni)."""
        x, k = self.parents
        if x.ndim == 2:  # one channel: nothing to line up
            x4, k4, g4 = x, k, g

            def swap(t: Tensor) -> Tensor:
                return t

        else:
            x4, k4, g4 = (t.reshape(_four(t.shape)) for t in (x, k, g))

            def swap(t: Tensor) -> Tensor:
                return t.transpose(1, 0, 2, 3)

        full = self.mode == "full"
        dx = dk = None
        # Only the gradients someone needs are recorded: a constant kernel gets no dK graph.
        if not self.flip:
            if x.requires_grad:
                dx = convolve2d(g4, swap(k4), "valid" if full else "full")
            if k.requires_grad:
                dk = rot180(correlate2d(swap(g4), swap(x4))) if full else swap(correlate2d(swap(x4), swap(g4)))
        else:
            if x.requires_grad:
                dx = correlate2d(g4, swap(k4), "valid" if full else "full")
            if k.requires_grad:
                dk = correlate2d(swap(g4), swap(x4)) if full else rot180(swap(correlate2d(swap(x4), swap(g4))))
        return (None if dx is None else dx.reshape(x.shape)), (None if dk is None else dk.reshape(k.shape))


class Convolve2d(Correlate2d):
    """Y_i = Σ_j X_j * K_ij = Σ_j X_j ⋆ rot180(K_ij)
    dE/dX_j = Σ_i dE/dY_i ⋆full K_ij
    dE/dK_ij = rot180(X_j ⋆ dE/dY_i)
    """

    name = "convolve2d"
    variants = {
        ("mode", "full"): """Y_i = Σ_j X_j *full K_ij = Σ_j X_j ⋆full rot180(K_ij)
        dE/dX_j = Σ_i dE/dY_i ⋆ K_ij
        dE/dK_ij = dE/dY_i ⋆ X_j
        """,
        GENERAL: """Y_i = Σ_j pad_p(X_j) ⋆_s dil_d(rot180(K_ij))
        dE/dX_j = crop_p(Σ_i dil_s(dE/dY_i) ⋆full dil_d(K_ij))
        dE/dK_ij = rot180(pad_p(X_j) ⋆_d dil_s(dE/dY_i))
        """,
    }
    flip = True


class Conv2d(Correlate2d):
    """Y_i = Σ_j pad_p(X_j) ⋆_s dil_d(K_ij)
    dE/dX_j = crop_p(Σ_i dil_s(dE/dY_i) *full dil_d(K_ij))
    dE/dK_ij = pad_p(X_j) ⋆_d dil_s(dE/dY_i)
    """

    name = "conv2d"  # torch.nn.functional.conv2d's name for the same correlation
    variants = {}
    mode = None


class ConvTranspose2d(Function):
    """Y_j = crop_p(Σ_i dil_s(X_i) *full dil_d(K_ij))
    dE/dX_i = Σ_j pad_p(dE/dY_j) ⋆_s dil_d(K_ij)
    dE/dK_ij = pad_p(dE/dY_j) ⋆_d dil_s(X_i)
    """

    name = "conv_transpose2d"
    options = ("stride", "padding", "output_padding", "dilation", "groups")
    stride: Pair = (1, 1)
    padding: Pads = (0, 0, 0, 0)
    output_padding: Pair = (0, 0)
    dilation: Pair = (1, 1)
    groups = 1

    def forward(self, x: np.ndarray, k: np.ndarray) -> np.ndarray:
        dtype = np.result_type(x, k)
        x4 = x.reshape(_four(x.shape)).astype(dtype, copy=False)
        k4 = k.astype(dtype, copy=False)
        (n, _, ho, wo), (_, og, kh, kw) = x4.shape, k4.shape
        (sh, sw), (dh, dw), (pt, pb, pl, pr) = self.stride, self.dilation, self.padding
        h = (ho - 1) * sh + dh * (kh - 1) + 1 - pt - pb + self.output_padding[0]
        w = (wo - 1) * sw + dw * (kw - 1) + 1 - pl - pr + self.output_padding[1]
        # The convolution whose dE/dX this is: input (N, C_out, H, W), output x's size.
        self._geo = geo = Geometry.of((n, og * self.groups, h, w), k4.shape, self.stride, self.padding,
                                     self.dilation, self.groups, out=(ho, wo))
        self._layout = kern.choose_layout(geo)
        y = kern.input_grad(kern.to_layout(x4, self._layout), k4, geo, self._layout)
        return y.reshape(_out_shape(x.shape, geo.c, h, w))

    def backward(self, g: Grad) -> tuple[Grad | None, Grad | None]:
        x, k = self.parents
        geo = self._geo
        if isinstance(g, Tensor):  # recorded: a correlate2d for each
            x4, g4 = x.reshape(_four(x.shape)), g.reshape(_four(g.shape))
            dx = dk = None
            if x.requires_grad:
                dx = Correlate2d.apply(g4, k, stride=geo.stride, padding=geo.tight_pads, dilation=geo.dilation,
                                       groups=geo.groups, mode=None).reshape(x.shape)
            if k.requires_grad:
                dk = _weight_grad_graph(g4, x4, geo)
            return dx, dk
        layout = self._layout
        xa, ka = self.inputs(g)
        g4 = g.reshape(_four(g.shape))
        cols = kern.im2col(g4, geo, layout)
        dx = dk = None
        if x.requires_grad:  # the convolution that this op is the transpose of
            dx = kern.conv_gemm(cols, ka.astype(g.dtype, copy=False), geo, layout)
            dx = dx.astype(x.dtype, copy=False).reshape(x.shape)
        if k.requires_grad:
            xl = kern.to_layout(xa.reshape(_four(xa.shape)).astype(g.dtype, copy=False), layout)
            dk = kern.weight_grad(cols, xl, geo, layout).astype(k.dtype, copy=False)
        return dx, dk


# ----- argument checking and the public functions ---------------------------------------------


def _pair(op: str, name: str, value: Any, where: str, minimum: int) -> Pair:
    """An int or a pair of ints, each at least `minimum`."""
    ints = (int, np.integer)
    if isinstance(value, ints) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif (isinstance(value, (tuple, list)) and len(value) == 2
          and all(isinstance(v, ints) and not isinstance(v, bool) for v in value)):
        pair = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r} ({where})")
    if min(pair) < minimum:
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{op}: {name} must be {kind}, got {value!r} ({where})")
    return pair


def _padding(op: str, padding: Any, kshape: tuple[int, ...], stride: Pair, dilation: Pair, where: str,
             word: str = "padding") -> Pads:
    """(top, bottom, left, right) for an int, a pair, or 'valid' / 'full' / 'same'."""
    kh, kw = kshape[-2:]
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "full":  # every overlap of kernel and input: d·(k − 1) zeros
            ph, pw = dilation[0] * (kh - 1), dilation[1] * (kw - 1)
        elif padding == "same":
            if kh % 2 == 0 or kw % 2 == 0:
                raise ValueError(f"{op}: {word} 'same' needs an odd kernel, got kernel {tuple(kshape)} ({where})")
            if stride != (1, 1):
                raise ValueError(f"{op}: {word} 'same' needs stride 1, got stride {stride} ({where})")
            ph, pw = dilation[0] * (kh - 1) // 2, dilation[1] * (kw - 1) // 2
        else:
            raise ValueError(f"{op}: unknown {word} {padding!r} ({where}); use 'valid', 'full' or 'same'")
    else:
        ph, pw = _pair(op, "padding", padding, where, 0)
    return (ph, ph, pw, pw)


def _check_shapes(op: str, x: Tensor, k: Tensor, groups: int, where: str, *, plain_2d: bool = True,
                  transposed: bool = False) -> None:
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)):
        raise TypeError(f"{op}: groups must be an int, got {groups!r} ({where})")
    if groups < 1:
        raise ValueError(f"{op}: groups must be positive, got {groups} ({where})")
    if plain_2d and x.ndim == 2 and k.ndim == 2:
        if groups != 1:
            raise ValueError(f"{op}: groups={groups} needs channels; a 2-D input has one ({where})")
        return
    if x.ndim not in (3, 4) or k.ndim != 4:
        two_d = "input (H, W) with kernel (kh, kw), or " if plain_2d else ""
        layout = "(C_in, C_out/groups, kh, kw)" if transposed else "(C_out, C_in/groups, kh, kw)"
        raise ValueError(f"{op}: expected {two_d}input (C_in, H, W) / (N, C_in, H, W) with kernel {layout}; "
                         f"got input {x.shape} and kernel {k.shape}")
    c = x.shape[-3]
    if transposed:
        if k.shape[0] != c:
            raise ValueError(f"{op}: input of shape {x.shape} has {c} channels but the weight of shape {k.shape} "
                             f"expects {k.shape[0]} (weight is (C_in, C_out/groups, kh, kw))")
        if c % groups:
            raise ValueError(f"{op}: groups={groups} does not divide the {c} input channels ({where})")
        return
    if c % groups or k.shape[0] % groups:
        raise ValueError(f"{op}: groups={groups} must divide the input channels ({c}) and the output channels "
                         f"({k.shape[0]}) ({where})")
    if c != k.shape[1] * groups:
        raise ValueError(f"{op}: input of shape {x.shape} has {c} channels but the kernel of shape {k.shape} "
                         f"expects {k.shape[1] * groups} (kernel is (C_out, C_in/groups, kh, kw), groups={groups})")


def _check_fits(op: str, x: Tensor, k: Tensor, pads: Pads, dilation: Pair, where: str) -> None:
    """The (dilated) kernel must fit in the padded input at least once."""
    eh, ew = (dilation[i] * (k.shape[-2 + i] - 1) + 1 for i in range(2))
    hp, wp = x.shape[-2] + pads[0] + pads[1], x.shape[-1] + pads[2] + pads[3]
    if eh > hp or ew > wp:
        dilated = f" (dilated to {(eh, ew)})" if (eh, ew) != k.shape[-2:] else ""
        raise ValueError(f"{op}: kernel of shape {k.shape}{dilated} is larger than the input of shape {x.shape} "
                         f"padded to {(hp, wp)} ({where})")


def _correlation(cls: type[Correlate2d], x: ArrayLike, k: ArrayLike, mode: str, stride: Any, padding: Any,
                 dilation: Any, groups: int) -> Tensor:
    op = cls.name
    x, k = tensor(x), tensor(k)
    where = f"input {x.shape}, kernel {k.shape}"
    if not isinstance(mode, str):  # e.g. a bias in third place, PyTorch's conv2d order
        raise TypeError(f"{op}: the third argument is the mode ('valid', 'full' or 'same'), got a "
                        f"{type(mode).__name__} for {where}; for a bias use tc.conv2d(x, weight, bias) "
                        f"or b + {op}(x, k)")
    if mode not in MODES:
        raise ValueError(f"{op}: unknown mode {mode!r} for {where}; use 'valid', 'full' or 'same'")
    if padding is not None and mode != "valid":
        raise ValueError(f"{op}: give either mode={mode!r} or padding={padding!r}, not both ({where})")
    _check_shapes(op, x, k, groups, where)
    stride_, dilation_ = _pair(op, "stride", stride, where, 1), _pair(op, "dilation", dilation, where, 1)
    word = "mode" if padding is None else "padding"
    pads = _padding(op, mode if padding is None else padding, k.shape, stride_, dilation_, where, word)
    _check_fits(op, x, k, pads, dilation_, where)
    return cls.apply(x, k, mode=mode if padding is None else None, stride=stride_, padding=pads,
                     dilation=dilation_, groups=int(groups), _keep_cols=k.requires_grad and is_grad_enabled())


def correlate2d(x: ArrayLike, k: ArrayLike, mode: str = "valid", *, stride: Any = 1, padding: Any = None,
                dilation: Any = 1, groups: int = 1) -> Tensor:
    """Cross-correlation `x ⋆ k` for (H, W), (C_in, H, W) or (N, C_in, H, W) inputs.

    Kernels are (kh, kw) for a 2-D input, else (C_out, C_in // groups, kh, kw). `mode` is
    the seed's word: "valid" (H − kh + 1 rows), "full" (H + kh − 1) or "same" (H rows, odd
    kernels, stride 1). `padding` (an int, a pair, or one of those words) replaces
    `mode`; `stride`, `dilation` are ints or pairs; `groups` splits the channels.
    Output rows: floor((H + 2·ph − dilation·(kh − 1) − 1) / stride) + 1, as PyTorch.
    """
    return _correlation(Correlate2d, x, k, mode, stride, padding, dilation, groups)


def convolve2d(x: ArrayLike, k: ArrayLike, mode: str = "valid", *, stride: Any = 1, padding: Any = None,
               dilation: Any = 1, groups: int = 1) -> Tensor:
    """True convolution `x * k = x ⋆ rot180(k)`; shapes and options as `correlate2d`."""
    return _correlation(Convolve2d, x, k, mode, stride, padding, dilation, groups)


def _bias(op: str, y: Tensor, bias: ArrayLike | None, channels: int) -> Tensor:
    if bias is None:
        return y
    b = tensor(bias)
    if b.shape != (channels,):
        raise ValueError(f"{op}: bias of shape {b.shape} does not match the {channels} output channels "
                         f"(expected {(channels,)})")
    return y + b.reshape(channels, 1, 1)


def conv2d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """`torch.nn.functional.conv2d`: x (N, C_in, H, W) or (C_in, H, W), weight
    (C_out, C_in // groups, kh, kw), bias (C_out,) or None; padding an int, a pair,
    'valid' or 'same'."""
    x, w = tensor(x), tensor(weight)
    where = f"input {x.shape}, weight {w.shape}"
    _check_shapes("conv2d", x, w, groups, where, plain_2d=False)
    stride_, dilation_ = _pair("conv2d", "stride", stride, where, 1), _pair("conv2d", "dilation", dilation, where, 1)
    pads = _padding("conv2d", padding, w.shape, stride_, dilation_, where)
    _check_fits("conv2d", x, w, pads, dilation_, where)
    y = Conv2d.apply(x, w, stride=stride_, padding=pads, dilation=dilation_, groups=int(groups),
                     _keep_cols=w.requires_grad and is_grad_enabled())
    return _bias("conv2d", y, bias, w.shape[0])


def conv_transpose2d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """`torch.nn.functional.conv_transpose2d`: the dE/dX of conv2d with the same options,
    dil_s(x) *full weight cropped by the padding. x (N, C_in, H, W) or (C_in, H, W), weight
    (C_in, C_out // groups, kh, kw); output rows
    (H − 1)·stride − 2·padding + dilation·(kh − 1) + output_padding + 1."""
    op = "conv_transpose2d"
    x, w = tensor(x), tensor(weight)
    where = f"input {x.shape}, weight {w.shape}"
    _check_shapes(op, x, w, groups, where, plain_2d=False, transposed=True)
    stride_, dilation_ = _pair(op, "stride", stride, where, 1), _pair(op, "dilation", dilation, where, 1)
    (ph, pw), out_pad = _pair(op, "padding", padding, where, 0), _pair(op, "output_padding", output_padding, where, 0)
    for i in range(2):
        if out_pad[i] >= stride_[i] and out_pad[i] >= dilation_[i]:
            raise ValueError(f"{op}: output_padding {out_pad} must be smaller than the stride {stride_} or the "
                             f"dilation {dilation_} ({where})")
    size = tuple((x.shape[-2 + i] - 1) * stride_[i] - 2 * (ph, pw)[i] + dilation_[i] * (w.shape[-2 + i] - 1)
                 + out_pad[i] + 1 for i in range(2))
    if min(size) < 1:
        raise ValueError(f"{op}: the output would be {size}: padding {(ph, pw)} is too large ({where})")
    y = ConvTranspose2d.apply(x, w, stride=stride_, padding=(ph, ph, pw, pw), output_padding=out_pad,
                              dilation=dilation_, groups=int(groups))
    return _bias(op, y, bias, w.shape[1] * groups)
