"""im2col / col2im: the array kernels behind `ops/conv.py` and `ops/pool.py`.

Nothing here knows about Tensors or gradients; the ops state the formulas and call these
to evaluate them fast. Shapes are always 4-D, (N, C, H, W) for images and
(O, C/groups, kh, kw) for kernels; a `Geometry` records one layer's sizes.

A window of the (padded) input starts at row a·s and reads rows a·s + u·d for u < kh
(s the stride, d the dilation). Two ways to touch every window at once:

- `windows()`: an `as_strided` view (…, C, kh, kw, …, Ho, Wo, …) of the padded input;
  copied once it is the im2col matrix, and Y = K · cols is one GEMM.
- `shifts()`: the one shift loop. For each kernel offset (u, v) it gives the index that
  selects, from the padded input, the Ho×Wo positions that offset meets in all windows.
  col2im (dE/dX), pooling forward and backward are all "for each offset, add (or
  compare) a Ho×Wo block at its place".

Layouts: the im2col matrix can keep its axes in different orders; which is fastest
depends on the sizes (measured on 2 cores with OpenBLAS, see docs/performance.md).
"sample" (N, C·kh·kw, Ho·Wo) runs one GEMM per sample, for tiny kernel matrices;
"batch_last" (C·kh·kw, Ho·Wo·N) gives long copy runs for small images;
"channel_major" (C·kh·kw, N·Ho·Wo) suits large images, Y and dX move in runs of Ho·Wo.

Memory: the columns are kh·kw times the input. Above `COLS_BYTES` a batch is worked
through in parts of whole samples (`parts`), and dE/dK rebuilds each part's columns
instead of keeping them, so no layer holds more than that much scratch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterator

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .select import select_bits

Pads = tuple[int, int, int, int]  # top, bottom, left, right; a negative pad crops

# Axis order of the image (N, C, H, W) in each layout.
LAYOUTS: dict[str, tuple[int, int, int, int]] = {
    "sample": (0, 1, 2, 3),
    "channel_major": (1, 0, 2, 3),
    "batch_last": (1, 2, 3, 0),
}


@dataclass(frozen=True)
class Geometry:
    """Sizes of one convolution (or pooling) layer.

    Input (n, c, h, w), kernel (o, c // groups, kh, kw), output (n, o, ho, wo). The
    input is padded by `pads` to (hp, wp); the windows start every `stride` rows and
    their taps are `dilation` apart.
    """

    n: int
    c: int
    h: int
    w: int
    o: int
    kh: int
    kw: int
    groups: int
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pads: Pads
    ho: int
    wo: int

    @classmethod
    def of(cls, x: tuple[int, ...], k: tuple[int, ...], stride: tuple[int, int], pads: Pads,
           dilation: tuple[int, int], groups: int, out: tuple[int, int] | None = None) -> Geometry:
        """The layer that slides kernel shape `k` over input shape `x` (both 4-D).
        `out` fixes (Ho, Wo) when the caller knows them (a transposed convolution)."""
        n, c, h, w = x
        o, _, kh, kw = k
        if out is None:
            hp, wp = h + pads[0] + pads[1], w + pads[2] + pads[3]
            out = ((hp - dilation[0] * (kh - 1) - 1) // stride[0] + 1,
                   (wp - dilation[1] * (kw - 1) - 1) // stride[1] + 1)
        return cls(n, c, h, w, o, kh, kw, groups, stride, dilation, pads, *out)

    @property
    def hp(self) -> int:
        return self.h + self.pads[0] + self.pads[1]

    @property
    def wp(self) -> int:
        return self.w + self.pads[2] + self.pads[3]

    @property
    def slack(self) -> tuple[int, int]:
        """Rows and columns at the bottom/right of the padded input that no window reaches
        (the stride does not divide evenly): their gradient is zero."""
        return (self.hp - (self.ho - 1) * self.stride[0] - self.dilation[0] * (self.kh - 1) - 1,
                self.wp - (self.wo - 1) * self.stride[1] - self.dilation[1] * (self.kw - 1) - 1)

    @property
    def tight_pads(self) -> Pads:
        """The pads with the slack cropped off: the same output, every input row used."""
        rh, rw = self.slack
        pt, pb, pl, pr = self.pads
        return (pt, pb - rh, pl, pr - rw)


def choose_layout(geo: Geometry) -> str:
    """The im2col layout measured fastest for these sizes (see the module docstring).
    Small images go batch last; a large one (also when a stride makes its output small)
    channels first, whose dE/dX comes back in runs of whole image rows."""
    if (geo.c // geo.groups) * geo.kh * geo.kw <= 32:
        return "sample"
    if geo.h * geo.w <= 256:
        return "batch_last"
    return "channel_major"


# Columns up to this size are built in one piece (and kept for dE/dK); see `parts`.
COLS_BYTES = 64 << 20


def parts(geo: Geometry, itemsize: int) -> list[tuple[slice, Geometry]]:
    """The batch in runs of whole samples whose columns fit in `COLS_BYTES` (all of it in
    one run when they do), as evenly sized as possible, each with its geometry."""
    cols_bytes = geo.n * geo.c * geo.kh * geo.kw * geo.ho * geo.wo * itemsize
    count = min(geo.n, -(-cols_bytes // COLS_BYTES))
    if count <= 1:
        return [(slice(None), geo)]
    bounds = [geo.n * i // count for i in range(count + 1)]
    return [(slice(a, b), replace(geo, n=b - a)) for a, b in zip(bounds, bounds[1:])]


def _inverse(perm: tuple[int, ...]) -> tuple[int, ...]:
    # (a list, not a generator, into tuple(): tuple(generator) borrows a 10-long tuple from
    # CPython's free list and resizes it, which the memory tests see as growth)
    return tuple([perm.index(axis) for axis in range(len(perm))])


def pad(x: np.ndarray, pads: Pads, perm: tuple[int, int, int, int] = (0, 1, 2, 3), value: float = 0.0,
        contiguous: bool = False) -> np.ndarray:
    """`x` (N, C, H, W) padded with `value` (a negative pad crops), returned with its axes
    in `perm` order. Without padding it is a view unless `contiguous` asks for a copy."""
    h, w = x.shape[2:]
    x = x[:, :, max(-pads[0], 0) : h - max(-pads[1], 0), max(-pads[2], 0) : w - max(-pads[3], 0)]
    pt, pb, pl, pr = (max(p, 0) for p in pads)
    if not (pt or pb or pl or pr):
        view = x.transpose(perm)
        return np.ascontiguousarray(view) if contiguous else view
    shape = (x.shape[0], x.shape[1], x.shape[2] + pt + pb, x.shape[3] + pl + pr)
    out = np.full([shape[a] for a in perm], value, x.dtype)
    out.transpose(_inverse(perm))[:, :, pt : pt + x.shape[2], pl : pl + x.shape[3]] = x
    return out


def unpad(dxp: np.ndarray, pads: Pads) -> np.ndarray:
    """The gradient of `pad`: the padding cropped off, zeros where `pad` had cropped."""
    hp, wp = dxp.shape[2:]
    dx = dxp[:, :, max(pads[0], 0) : hp - max(pads[1], 0), max(pads[2], 0) : wp - max(pads[3], 0)]
    grow = [max(-p, 0) for p in pads]
    if any(grow):
        dx = np.pad(dx, ((0, 0), (0, 0), (grow[0], grow[1]), (grow[2], grow[3])))
    return dx


def windows(xl: np.ndarray, perm: tuple[int, ...], geo: Geometry) -> np.ndarray:
    """A view of every window of the padded input `xl` (axes in `perm` order), for reading:
    the layout's axes with (kh, kw) inserted after C and (H, W) replaced by (Ho, Wo)."""
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    row, col = xl.strides[perm.index(2)], xl.strides[perm.index(3)]
    shape: list[int] = []
    strides: list[int] = []
    for axis, size, step in zip(perm, xl.shape, xl.strides):
        if axis == 2:
            shape.append(geo.ho), strides.append(sh * row)
        elif axis == 3:
            shape.append(geo.wo), strides.append(sw * col)
        else:
            shape.append(size), strides.append(step)
        if axis == 1:
            shape += [geo.kh, geo.kw]
            strides += [dh * row, dw * col]
    # Overlapping windows must never be written through; nothing here does (the view is
    # only read, then copied). writeable=False is not used: in numpy 2.4 flipping the flag
    # on each call keeps a few small objects alive per call (measured by tests/test_memory.py).
    return as_strided(xl, shape, strides)


def shifts(geo: Geometry, perm: tuple[int, ...] = (0, 1, 2, 3)) -> Iterator[tuple[int, int, tuple[slice, ...]]]:
    """The one shift loop: (u, v, index) for each kernel offset, where `index` selects,
    from a padded array with axes in `perm` order, the Ho×Wo positions that offset
    reads in all windows (rows u·d, u·d + s, …)."""
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    at_h, at_w = perm.index(2), perm.index(3)
    for u in range(geo.kh):
        rows = slice(u * dh, u * dh + sh * (geo.ho - 1) + 1, sh)
        for v in range(geo.kw):
            index = [slice(None)] * 4
            index[at_h], index[at_w] = rows, slice(v * dw, v * dw + sw * (geo.wo - 1) + 1, sw)
            yield u, v, tuple(index)


# ----- convolution ------------------------------------------------------------------------


def _gemm_view(a: np.ndarray, layout: str, geo: Geometry, rows: int) -> np.ndarray:
    """A layout-ordered array (channels first, or after N for "sample") as the stack of
    per-group matrices (…, G, rows, M) that the GEMMs multiply."""
    if layout == "sample":
        return a.reshape(geo.n, geo.groups, rows, geo.ho * geo.wo)
    return a.reshape(geo.groups, rows, geo.n * geo.ho * geo.wo)


def _image_shape(geo: Geometry, channels: int, rows: int, cols: int, perm: tuple[int, ...]) -> list[int]:
    shape = (geo.n, channels, rows, cols)
    return [shape[a] for a in perm]


def im2col(x: np.ndarray, geo: Geometry, layout: str) -> np.ndarray:
    """The columns: every window of the padded input, copied once in the layout's order
    (…, C, kh, kw, …) with the output positions in the remaining axes."""
    perm = LAYOUTS[layout]
    xl = pad(x, geo.pads, perm, contiguous=layout == "batch_last")
    return np.ascontiguousarray(windows(xl, perm, geo))


def to_layout(g: np.ndarray, layout: str) -> np.ndarray:
    """dE/dY (N, O, Ho, Wo) in the layout's axis order (no copy when it already is)."""
    return np.ascontiguousarray(g.transpose(LAYOUTS[layout]))


def conv_gemm(cols: np.ndarray, k: np.ndarray, geo: Geometry, layout: str) -> np.ndarray:
    """Y = X ⋆ K (stride, padding, dilation, groups of `geo`) from the columns of X: one
    GEMM per group (per sample and group in the "sample" layout); Y is (N, O, Ho, Wo)."""
    perm = LAYOUTS[layout]
    kmat = k.reshape(geo.groups, geo.o // geo.groups, -1)
    y = kmat @ _gemm_view(cols, layout, geo, kmat.shape[-1])
    y = y.reshape(_image_shape(geo, geo.o, geo.ho, geo.wo, perm))
    return y.transpose(_inverse(perm))


def weight_grad(cols: np.ndarray, gl: np.ndarray, geo: Geometry, layout: str) -> np.ndarray:
    """dE/dK = X ⋆ dil_s(dE/dY): the columns against dE/dY (given in the layout's order
    by `to_layout`), summed over every output position."""
    og, ckk = geo.o // geo.groups, geo.c // geo.groups * geo.kh * geo.kw
    cm, gm = _gemm_view(cols, layout, geo, ckk), _gemm_view(gl, layout, geo, og)
    if layout == "sample":
        dk = np.matmul(gm, cm.swapaxes(-1, -2)).sum(axis=0)
    else:  # (cols dYᵀ)ᵀ: BLAS runs the long inner dimension faster this way round
        dk = (cm @ gm.swapaxes(-1, -2)).swapaxes(-1, -2)
    return dk.reshape(geo.o, geo.c // geo.groups, geo.kh, geo.kw)


# A shift GEMM's result up to this size stays in the core's L2 cache while it is added.
SHIFT_GEMM_BYTES = 1 << 18


def col2im_method(geo: Geometry, layout: str, itemsize: int) -> str:
    """How `input_grad` gets and adds its blocks, measured fastest for these sizes:
    "flat" for a tiny kernel matrix at stride 1, "shift" GEMMs while a block fits in
    cache, else "one" GEMM."""
    if layout == "sample" and geo.stride == (1, 1):
        return "flat"
    if geo.c * geo.n * geo.ho * geo.wo * itemsize <= SHIFT_GEMM_BYTES:
        return "shift"
    return "one"


def input_grad(gl: np.ndarray, k: np.ndarray, geo: Geometry, layout: str) -> np.ndarray:
    """dE/dX = crop_p(dil_s(dE/dY) *full dil_d(K)) by col2im: for each kernel offset
    (u, v), the block K[:, :, u, v]ᵀ · dE/dY is added onto the input positions that
    offset read. Small blocks are computed one "shift GEMM" at a time, so each stays in
    cache until it is added; large ones come from one GEMM Kᵀ · dE/dY (measured faster
    when a block no longer fits); `_input_grad_flat` does without short runs. Also the
    forward of a transposed convolution."""
    method = col2im_method(geo, layout, np.result_type(gl, k).itemsize)
    if method == "flat" and not np.isfinite(k).all():
        method = "shift"  # the flat grid's zeros times an inf weight: NaN where no window reads
    if method == "flat":
        return _input_grad_flat(gl.transpose(_inverse(LAYOUTS[layout])), k, geo)
    perm = LAYOUTS[layout]
    g_, og, cg = geo.groups, geo.o // geo.groups, geo.c // geo.groups
    gm = _gemm_view(gl, layout, geo, og)
    dtype = np.result_type(gl, k)
    block_shape = _image_shape(geo, geo.c, geo.ho, geo.wo, perm)
    if method == "shift":
        # kt[u, v] is the (G, C/G, O/G) matrix K[:, :, u, v]ᵀ of each group, contiguous
        kt = np.ascontiguousarray(k.reshape(g_, og, cg, geo.kh, geo.kw).transpose(3, 4, 0, 2, 1))

        def block(u: int, v: int) -> np.ndarray:
            return (kt[u, v] @ gm).reshape(block_shape)

    else:
        kmat = k.reshape(g_, og, cg * geo.kh * geo.kw).swapaxes(-1, -2)
        dcols = (kmat @ gm).reshape(_window_shape(geo, perm))
        at = perm.index(1) + 1  # the kh axis, right after C

        def block(u: int, v: int) -> np.ndarray:
            return dcols[(slice(None),) * at + (u, v)]

    dxl = np.zeros(_image_shape(geo, geo.c, geo.hp, geo.wp, perm), dtype)
    for u, v, index in shifts(geo, perm):
        dxl[index] += block(u, v)
    return unpad(dxl.transpose(_inverse(perm)), geo.pads)


def _input_grad_flat(g: np.ndarray, k: np.ndarray, geo: Geometry) -> np.ndarray:
    """dE/dX at stride 1, with long runs. dE/dY (N, O, Ho, Wo) is laid on the padded
    input's grid, channels first, zeros where no window starts, and the (N, Hp, Wp)
    positions are read as one line. Every window's tap (u, v) then lies the same distance
    u·d·Wp + v·d along that line from where the window starts, so one GEMM Kᵀ · dE/dY
    gives each tap's block on the grid, and col2im adds each block shifted by its
    distance: kh·kw adds of long contiguous runs (the grid's unused positions cost the
    GEMM (Hp·Wp)/(Ho·Wo) times the work, a few percent for tiny kernel matrices)."""
    g_, og, cg = geo.groups, geo.o // geo.groups, geo.c // geo.groups
    (dh, dw), wp = geo.dilation, geo.wp
    dtype = np.result_type(g, k)
    line = geo.n * geo.hp * wp
    grid = np.zeros((geo.o, geo.n, geo.hp, wp), dtype)
    grid[:, :, : geo.ho, : geo.wo] = g.transpose(1, 0, 2, 3)
    kt = k.reshape(g_, og, cg * geo.kh * geo.kw).swapaxes(-1, -2)
    blocks = (kt @ grid.reshape(g_, og, line)).reshape(g_, cg, geo.kh, geo.kw, line)
    dx = np.zeros((g_, cg, line), dtype)
    # Windows start no later than this far from the end; past it the blocks hold zeros.
    run = line - (geo.kh - 1) * dh * wp - (geo.kw - 1) * dw
    for u, v, _ in shifts(geo):
        at = u * dh * wp + v * dw
        dx[..., at : at + run] += blocks[:, :, u, v, :run]
    return unpad(dx.reshape(geo.c, geo.n, geo.hp, wp).transpose(1, 0, 2, 3), geo.pads)


def _window_shape(geo: Geometry, perm: tuple[int, ...]) -> list[int]:
    """The shape of the columns in the layout `perm`: (kh, kw) after C, (Ho, Wo) for (H, W)."""
    shape: list[int] = []
    for axis in perm:
        shape += {0: [geo.n], 1: [geo.c, geo.kh, geo.kw], 2: [geo.ho], 3: [geo.wo]}[axis]
    return shape


# ----- pooling ----------------------------------------------------------------------------


def max_pool(x: np.ndarray, geo: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """The maximum of each window and which offset u·kw + v held it, as PyTorch: the
    first one in row-major order when several tie, the last NaN when there are NaNs, and
    never a padding position (padding is −inf, so it can only tie an all −inf window).

    A knockout over the kh·kw offsets: each one's values are copied out once (numpy's
    loops run several times faster on contiguous arrays than at the stride), then
    neighbours meet in pairs until one entrant is left (see `_meet`)."""
    xp = pad(x, geo.pads, value=-np.inf)
    best, arg = _knockout(xp, geo, nan_wins=False)
    if np.isnan(best).any():  # NaN is every comparison's loser: a NaN must win instead
        best, arg = _knockout(xp, geo, nan_wins=True)
    if any(geo.pads) and np.isneginf(best).any():  # an all −inf window: its first real position
        inside = pad(np.ones((1, 1, geo.h, geo.w), np.int8), geo.pads)
        _, first = _knockout(inside, geo, nan_wins=False)
        arg = np.where(np.isneginf(best), first, arg).astype(arg.dtype)
    return best, arg


def _knockout(xp: np.ndarray, geo: Geometry, nan_wins: bool) -> tuple[np.ndarray, np.ndarray]:
    offset = np.int8 if geo.kh * geo.kw <= 127 else np.int32
    # copies (np.array, not ascontiguousarray): the knockout writes into its entrants
    entrants = [(np.array(xp[index], order="C"), offset(u * geo.kw + v)) for u, v, index in shifts(geo)]
    while len(entrants) > 1:
        pairs = zip(entrants[::2], entrants[1::2])
        entrants = [_meet(*first, *second, nan_wins) for first, second in pairs] + entrants[len(entrants) // 2 * 2 :]
    best, arg = entrants[0]
    return best, np.full(best.shape, arg, offset) if np.ndim(arg) == 0 else arg


def _meet(a: np.ndarray, at_a: Any, b: np.ndarray, at_b: Any, nan_wins: bool) -> tuple[np.ndarray, Any]:
    """Two entrants of the knockout, values and offsets, the offsets of `b` the later
    ones: `b` wins only where strictly greater, so a tie keeps the earlier offset (and,
    with `nan_wins`, where it is NaN, so the last NaN wins, as PyTorch's `v > max ||
    isnan(v)`). The winner's offset by integer arithmetic (`np.where` would branch on
    every element)."""
    won = b > a
    if nan_wins:
        won |= np.isnan(b)
    later = won.view(np.int8)  # 1 where b wins
    return np.maximum(a, b, out=a), at_a + later * (at_b - at_a)


def max_pool_scatter(g: np.ndarray, arg: np.ndarray, geo: Geometry) -> np.ndarray:
    """Each window's gradient to the input position its maximum came from."""
    dxp = np.zeros((geo.n, geo.c, geo.hp, geo.wp), g.dtype)
    apart = geo.stride[0] >= geo.kh and geo.stride[1] >= geo.kw  # no position in two windows
    for u, v, index in shifts(geo):
        won = select_bits(arg == u * geo.kw + v, g)  # a selection: 0·inf would be NaN
        if apart:
            dxp[index] = won  # written once: a copy, faster than an add at a stride
        else:
            dxp[index] += won
    return unpad(dxp, geo.pads)


def max_pool_gather(h: np.ndarray, arg: np.ndarray, geo: Geometry) -> np.ndarray:
    """For each window, the value of `h` at the position its maximum came from."""
    hp = pad(h, geo.pads)
    out = np.zeros((geo.n, geo.c, geo.ho, geo.wo), h.dtype)
    for u, v, index in shifts(geo):
        out += select_bits(arg == u * geo.kw + v, hp[index])
    return out


def window_sum(x: np.ndarray, geo: Geometry) -> np.ndarray:
    """Σ over each window (zero padding) of `x`."""
    xp = pad(x, geo.pads)
    out = np.zeros((geo.n, geo.c, geo.ho, geo.wo), x.dtype)
    for _, _, index in shifts(geo):
        out += xp[index]
    return out


def window_spread(g: np.ndarray, geo: Geometry) -> np.ndarray:
    """The adjoint of `window_sum`: each window's value added to all its positions."""
    dxp = np.zeros((geo.n, geo.c, geo.hp, geo.wp), g.dtype)
    for _, _, index in shifts(geo):
        dxp[index] += g
    return unpad(dxp, geo.pads)
