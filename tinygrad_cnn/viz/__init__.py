"""Drawings of recorded graphs: `draw_graph` (Graphviz), `render` (to a file) and
`to_html` (one self-contained page with pan, zoom and search).

- `tinygrad_cnn.viz.draw`: `draw_graph`, `render`, the module formulas table;
- `tinygrad_cnn.viz.patterns`: the composite steps drawn as one node;
- `tinygrad_cnn.viz.html`: `to_html`.
"""

from ._labels import CONSTANT, GRAD, GRAD_BG, INTERMEDIATE, MODULE, OP, OUTPUT, PARAMETER, TOOLTIP_MAX
from .draw import DOT_MISSING, MODULE_FORMULAS, MODULE_OPTIONS, Graph, draw_graph, render
from .html import to_html
from .patterns import PATTERNS

__all__ = [
    "CONSTANT",
    "DOT_MISSING",
    "GRAD",
    "GRAD_BG",
    "Graph",
    "INTERMEDIATE",
    "MODULE",
    "MODULE_FORMULAS",
    "MODULE_OPTIONS",
    "OP",
    "OUTPUT",
    "PARAMETER",
    "PATTERNS",
    "TOOLTIP_MAX",
    "draw_graph",
    "render",
    "to_html",
]
