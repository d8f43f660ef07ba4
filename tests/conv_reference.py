"""Explicit loops over the layer's formula, the independent reference for conv and pooling.

Y[n, i, a, b] = Σ_{j in i's group} Σ_uv pad_p(X)[n, j, a·s + u·d, b·s + v·d] K[i, j, u, v]

Loops run over output positions and channels, so nothing here shares code (or a
mistake) with the im2col kernels.
"""

from __future__ import annotations

import numpy as np


def pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def conv2d(x, k, bias=None, stride=1, padding=0, dilation=1, groups=1, flip=False):
    """torch.nn.functional.conv2d by the formula above; padding an int or a pair
    (symmetric) or a 4-tuple (top, bottom, left, right)."""
    (sh, sw), (dh, dw) = pair(stride), pair(dilation)
    pads = (padding,) * 4 if isinstance(padding, int) else padding
    if len(pads) == 2:
        pads = (pads[0], pads[0], pads[1], pads[1])
    x4 = x if x.ndim == 4 else x[None]
    if flip:
        k = k[..., ::-1, ::-1]
    xp = np.pad(x4, ((0, 0), (0, 0), pads[:2], pads[2:]))
    n, c, hp, wp = xp.shape
    o, cg, kh, kw = k.shape
    ho, wo = (hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((n, o, ho, wo))
    og = o // groups
    for i in range(o):
        g = i // og
        for a in range(ho):
            for b in range(wo):
                window = xp[:, g * cg : (g + 1) * cg, a * sh : a * sh + dh * (kh - 1) + 1 : dh,
                            b * sw : b * sw + dw * (kw - 1) + 1 : dw]
                y[:, i, a, b] = (window * k[i]).sum(axis=(1, 2, 3))
    if bias is not None:
        y += bias.reshape(1, -1, 1, 1)
    return y if x.ndim == 4 else y[0]


def conv_transpose2d(x, w, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """torch.nn.functional.conv_transpose2d: every input value spreads K over the window
    it would have come from, then the padding is cropped."""
    (sh, sw), (dh, dw), (ph, pw), (oh, ow) = (pair(v) for v in (stride, dilation, padding, output_padding))
    x4 = x if x.ndim == 4 else x[None]
    n, cin, hi, wi = x4.shape
    _, cog, kh, kw = w.shape
    full = np.zeros((n, cog * groups, (hi - 1) * sh + dh * (kh - 1) + 1 + oh, (wi - 1) * sw + dw * (kw - 1) + 1 + ow))
    cig = cin // groups
    for i in range(cin):
        g = i // cig
        for a in range(hi):
            for b in range(wi):
                full[:, g * cog : (g + 1) * cog, a * sh : a * sh + dh * (kh - 1) + 1 : dh,
                     b * sw : b * sw + dw * (kw - 1) + 1 : dw] += x4[:, i, a, b, None, None, None] * w[i]
    h, wd = full.shape[2] - 2 * ph, full.shape[3] - 2 * pw
    y = full[:, :, ph : ph + h, pw : pw + wd]
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1)
    return y if x.ndim == 4 else y[0]


def _windows(x, kernel_size, stride, padding, value):
    (kh, kw), (ph, pw) = pair(kernel_size), pair(padding)
    sh, sw = pair(kernel_size if stride is None else stride)
    x4 = x if x.ndim == 4 else x[None]
    xp = np.pad(x4, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)
    ho, wo = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    for a in range(ho):
        for b in range(wo):
            yield a, b, (a * sh, b * sw), xp[:, :, a * sh : a * sh + kh, b * sw : b * sw + kw]


def pool(x, kernel_size, stride=None, padding=0, kind="max"):
    """max_pool2d / avg_pool2d (count_include_pad) window by window."""
    out = {}
    for a, b, _, win in _windows(x, kernel_size, stride, padding, -np.inf if kind == "max" else 0.0):
        out[a, b] = win.max(axis=(2, 3)) if kind == "max" else win.mean(axis=(2, 3))
    ho, wo = max(a for a, _ in out) + 1, max(b for _, b in out) + 1
    y = np.stack([np.stack([out[a, b] for b in range(wo)], -1) for a in range(ho)], -2)
    return y if x.ndim == 4 else y[0]


def max_unpool(g, x, kernel_size, stride=None, padding=0):
    """Each window's g to the first maximum of x in that window (np.argmax: row-major first)."""
    kw, (ph, pw) = pair(kernel_size)[1], pair(padding)
    x4, g4 = (x, g) if x.ndim == 4 else (x[None], g[None])
    dxp = np.zeros((x4.shape[0], x4.shape[1], x4.shape[2] + 2 * ph, x4.shape[3] + 2 * pw))
    for a, b, (r, c), win in _windows(x, kernel_size, stride, padding, -np.inf):
        for n in range(win.shape[0]):
            for ch in range(win.shape[1]):
                u, v = divmod(int(np.argmax(win[n, ch])), kw)
                dxp[n, ch, r + u, c + v] += g4[n, ch, a, b]
    dx = dxp[:, :, ph : ph + x4.shape[2], pw : pw + x4.shape[3]]
    return dx if x.ndim == 4 else dx[0]


def max_select(h, x, kernel_size, stride=None, padding=0):
    """For each window, h at the first maximum of x in that window."""
    kw, (ph, pw) = pair(kernel_size)[1], pair(padding)
    h4 = h if h.ndim == 4 else h[None]
    hp = np.pad(h4, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = {}
    for a, b, (r, c), win in _windows(x, kernel_size, stride, padding, -np.inf):
        flat = win.reshape(win.shape[0], win.shape[1], -1).argmax(-1)
        u, v = np.divmod(flat, kw)
        n, ch = np.indices(flat.shape)
        out[a, b] = hp[n, ch, r + u, c + v]
    ho, wo = max(a for a, _ in out) + 1, max(b for _, b in out) + 1
    y = np.stack([np.stack([out[a, b] for b in range(wo)], -1) for a in range(ho)], -2)
    return y if h.ndim == 4 else y[0]


def conv2d_grads(x, k, g, stride=1, padding=0, dilation=1, groups=1, flip=False):
    """dE/dX and dE/dK of `conv2d` for the upstream gradient g, straight from the chain
    rule: each kernel tap (u, v) met the input at rows a·s + u·d, so
    dE/dK[i, j, u, v] = Σ_nab pad_p(X)[n, j, a·s + u·d, b·s + v·d] dE/dY[n, i, a, b] and
    dE/dpad_p(X) gets K[i, j, u, v] dE/dY[n, i, a, b] at those same places."""
    (sh, sw), (dh, dw) = pair(stride), pair(dilation)
    pads = (padding,) * 4 if isinstance(padding, int) else padding
    if len(pads) == 2:
        pads = (pads[0], pads[0], pads[1], pads[1])
    x4, g4 = (x, g) if x.ndim == 4 else (x[None], g[None])
    kk = k[..., ::-1, ::-1] if flip else k
    xp = np.pad(x4, ((0, 0), (0, 0), pads[:2], pads[2:]))
    dxp = np.zeros_like(xp)
    dk = np.zeros_like(kk)
    o, cg, kh, kw = kk.shape
    og = o // groups
    ho, wo = g4.shape[2:]
    for i in range(o):
        grp = i // og
        for j in range(cg):
            c = grp * cg + j
            for u in range(kh):
                for v in range(kw):
                    rows = slice(u * dh, u * dh + sh * (ho - 1) + 1, sh)
                    cols = slice(v * dw, v * dw + sw * (wo - 1) + 1, sw)
                    dk[i, j, u, v] = (xp[:, c, rows, cols] * g4[:, i]).sum()
                    dxp[:, c, rows, cols] += kk[i, j, u, v] * g4[:, i]
    dx = dxp[:, :, pads[0] : pads[0] + x4.shape[2], pads[2] : pads[2] + x4.shape[3]]
    return (dx if x.ndim == 4 else dx[0]), (dk[..., ::-1, ::-1] if flip else dk)
