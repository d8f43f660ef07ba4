"""One self-contained HTML page for a drawing too large for a page of text.

`to_html(graph, path)` writes the SVG that Graphviz's `dot` makes of `graph` into one HTML
file, together with a small script (below, no library, nothing fetched from the network):

- drag to pan, the mouse wheel (or the + / − buttons) to zoom about the pointer, "fit" to
  see the whole drawing;
- a search box: nodes whose text contains what is typed are outlined in red, the others
  fade, and Enter centres the next match. The page's address may carry a search,
  `page.html#find=conv1.weight`, so a link can point at one node;
- hovering a node shows its tooltip (every value and gradient of a tensor, every formula
  of an op), as in the SVG itself.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import graphviz

from .draw import _pipe_svg, _write_atomic

__all__ = ["to_html"]

_STYLE = """
html, body { margin: 0; height: 100%; font: 14px Helvetica, Arial, sans-serif; }
#bar { position: fixed; top: 0; left: 0; right: 0; height: 40px; display: flex; gap: 6px;
       align-items: center; padding: 0 10px; background: #f6f6f6; border-bottom: 1px solid #ccc; }
#bar input { width: 260px; padding: 4px 6px; }
#bar .hint { color: #666; font-size: 12px; margin-left: auto; }
#view { position: fixed; top: 41px; left: 0; right: 0; bottom: 0; overflow: hidden; cursor: grab; }
#view.dragging { cursor: grabbing; }
#view svg { width: 100%; height: 100%; display: block; }
g.node.hit polygon, g.node.hit path, g.node.hit ellipse { stroke: #e0301e; stroke-width: 4px; }
g.node.dim, g.edge.dim { opacity: 0.25; }
"""

# Pan and zoom act on the SVG's viewBox; the search matches each node's text.
_SCRIPT = r"""
(function () {
  const view = document.getElementById('view');
  const svg = view.querySelector('svg');
  const find = document.getElementById('find');
  const count = document.getElementById('count');
  svg.removeAttribute('width');
  svg.removeAttribute('height');
  svg.setAttribute('preserveAspectRatio', 'xMinYMin meet');
  const base = svg.getAttribute('viewBox').split(/[\s,]+/).map(Number);
  let vb = base.slice();
  const apply = () => svg.setAttribute('viewBox', vb.join(' '));
  // screen pixels per SVG unit (the same on both axes with 'meet')
  const scale = () => {
    const r = view.getBoundingClientRect();
    return Math.min(r.width / vb[2], r.height / vb[3]);
  };
  const toSvg = (cx, cy) => {
    const r = view.getBoundingClientRect(), s = scale();
    return [vb[0] + (cx - r.left) / s, vb[1] + (cy - r.top) / s];
  };
  function zoom(factor, cx, cy) {
    const [px, py] = toSvg(cx, cy);
    vb = [px - (px - vb[0]) * factor, py - (py - vb[1]) * factor, vb[2] * factor, vb[3] * factor];
    apply();
  }
  function fit() { vb = base.slice(); apply(); }
  function centerOn(node) {
    // the node's box on screen, in SVG units (dot nests nodes under a translated group)
    const b = node.getBoundingClientRect();
    const [x0, y0] = toSvg(b.left, b.top), [x1, y1] = toSvg(b.right, b.bottom);
    const r = view.getBoundingClientRect();
    const s = Math.max(scale(), 1);  // at least the natural size: one SVG unit per pixel
    const w = r.width / s, h = r.height / s;
    vb = [(x0 + x1) / 2 - w / 2, (y0 + y1) / 2 - h / 2, w, h];
    apply();
  }
  view.addEventListener('wheel', (e) => {
    e.preventDefault();
    zoom(Math.exp(e.deltaY * 0.0015), e.clientX, e.clientY);
  }, { passive: false });
  let drag = null;
  view.addEventListener('pointerdown', (e) => {
    drag = [e.clientX, e.clientY];
    view.classList.add('dragging');
  });
  window.addEventListener('pointermove', (e) => {
    if (!drag) return;
    const s = scale();
    vb[0] -= (e.clientX - drag[0]) / s;
    vb[1] -= (e.clientY - drag[1]) / s;
    drag = [e.clientX, e.clientY];
    apply();
  });
  window.addEventListener('pointerup', () => { drag = null; view.classList.remove('dragging'); });
  const mid = () => { const r = view.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; };
  document.getElementById('zin').onclick = () => zoom(1 / 1.25, ...mid());
  document.getElementById('zout').onclick = () => zoom(1.25, ...mid());
  document.getElementById('fit').onclick = fit;

  const nodes = Array.from(svg.querySelectorAll('g.node'));
  const texts = nodes.map((n) => Array.from(n.querySelectorAll('text')).map((t) => t.textContent).join(' ').toLowerCase());
  let hits = [], next = 0;
  function search(q) {
    q = q.trim().toLowerCase();
    hits = q ? nodes.filter((n, i) => texts[i].includes(q)) : [];
    next = 0;
    nodes.forEach((n) => {
      n.classList.toggle('hit', hits.includes(n));
      n.classList.toggle('dim', q !== '' && !hits.includes(n));
    });
    svg.querySelectorAll('g.edge').forEach((e) => e.classList.toggle('dim', q !== ''));
    count.textContent = q ? hits.length + (hits.length === 1 ? ' match' : ' matches') : '';
    document.body.dataset.hits = String(hits.length);
  }
  function showNext() {
    if (!hits.length) return;
    centerOn(hits[next % hits.length]);
    next += 1;
  }
  find.addEventListener('input', () => search(find.value));
  find.addEventListener('keydown', (e) => { if (e.key === 'Enter') showNext(); });
  const m = location.hash.match(/^#find=(.*)$/);
  if (m) { find.value = decodeURIComponent(m[1]); search(find.value); showNext(); } else { fit(); }
  document.body.dataset.ready = '1';
})();
"""

_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.S)


def to_html(graph: graphviz.Digraph | str | bytes, path: str | Path, title: str = "tinygrad_cnn graph") -> Path:
    """Write `graph` (a `draw_graph` result, or SVG text) as one self-contained HTML page
    with pan, zoom and search, and return its path. Needs Graphviz's `dot` for a graph."""
    if isinstance(graph, graphviz.Digraph):
        svg = _pipe_svg(graph).decode("utf-8")
    elif isinstance(graph, bytes):
        svg = graph.decode("utf-8")
    elif isinstance(graph, str):
        svg = graph
    else:
        raise TypeError(f"to_html: expected a graphviz.Digraph or SVG text, got {type(graph).__name__}")
    if "<svg" not in svg:
        raise ValueError("to_html: the text given holds no <svg> element")
    svg = _PROLOG.sub("", svg, count=1)  # the XML declaration and DOCTYPE do not belong inside HTML
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        # a phone lays the page out at its own width (not 980 px) and the page pans the drawing
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        '<div id="bar"><input id="find" type="search" placeholder="find a node: name, op, shape…" '
        'aria-label="find a node"> <span id="count"></span> '
        '<button id="zin" title="zoom in">+</button><button id="zout" title="zoom out">−</button>'
        '<button id="fit" title="show the whole drawing">fit</button>'
        '<span class="hint">drag to pan · wheel to zoom · hover a node for its values</span></div>\n'
        f'<div id="view">\n{svg}\n</div>\n<script>{_SCRIPT}</script>\n</body>\n</html>\n'
    )
    return _write_atomic(Path(path), page.encode("utf-8"))
