"""A picture of the computation graph behind a tensor (the lecture's "forward flows up,
backprop flows down"), drawn with nothing but Python and, for PNG, matplotlib.

    L = 0.5 * (x - w) ** 2
    L.backward()
    g = draw_graph(L, params={"x": x, "w": w})   # a GraphPicture
    g                                            # a notebook shows it inline (_repr_svg_)
    g.save("graph.svg"); g.save("graph.png")     # SVG as text; PNG/PDF through matplotlib
    g.nodes, g.edges                             # what is drawn, for tests and for reading

Two kinds of node: **tensors** (boxes: name, shape, dtype, the value if it is small and,
after ``backward()``, the gradient in red) and **ops** (rounded boxes: the ``Function``
class that made the tensor above it). Edges point the way the forward pass flows, from each
op's input tensors to the op and from the op to its output; backward walks them in reverse.
Leaves sit at the bottom, the output at the top.

Unlike torchviz, no Graphviz binary is needed: the layout is a simple layered one (a node's
level is the length of the longest path from a leaf to it), which is all a tutorial graph
needs. The walk reads only ``grad_fn`` and ``grad_fn.inputs``, the same links that
``backward()`` follows, so the picture is the graph that backward sees.
"""
from __future__ import annotations

import html
import os
from dataclasses import dataclass
from typing import Mapping

import numpy as np

__all__ = ["draw_graph", "GraphPicture", "GraphNode"]

_CHAR_W, _LINE_H, _PAD = 7.2, 15, 8          # px per character / line, box padding
_GAP_X, _GAP_Y = 24, 36                      # px between boxes in a level / between levels


@dataclass(frozen=True)
class GraphNode:
    """One box of the picture.

    id: "t<k>" for a tensor, "op<k>" for an op, numbered in the order the walk meets them
        (from the output down), so the output tensor is always "t0".
    kind: "tensor" or "op".
    label: the tensor's name (from ``params``; else "output", "tensor" for one an op made,
        "leaf" for one that requires grad, "input" for a constant) or the op's class name.
    shape: the tensor's shape (None for an op).
    grad: the tensor's ``.grad``, formatted (None when it has none, and for ops).
    level: an op is one above its highest input, a tensor one above its op; a leaf sits one
        below its lowest user (so leaves feeding the first op are at level 0).
    """

    id: str
    kind: str
    label: str
    lines: tuple[str, ...]
    shape: tuple[int, ...] | None
    grad: str | None
    level: int


def _format_array(a: np.ndarray) -> str:
    """A scalar or a few numbers as they are; anything larger as its norm."""
    if a.size == 1:
        return f"{float(a.reshape(())):.4g}"
    if a.size <= 4:
        return "[" + ", ".join(f"{float(v):.3g}" for v in a.ravel()) + "]"
    return f"|.|={float(np.linalg.norm(a.astype(np.float64).ravel())):.3g}"


def _numpy(t) -> np.ndarray:
    from ..interop import to_numpy
    return to_numpy(t.detach())


class GraphPicture:
    """The drawn graph: ``nodes`` (GraphNode, output first), ``edges`` ((from_id, to_id) in
    the forward direction, once per use: ``x * x`` gives two edges from x), and the renderers
    ``svg()``, ``_repr_svg_()`` (inline in Jupyter), ``figure()`` (matplotlib) and
    ``save(path)``."""

    def __init__(self, nodes: list[GraphNode], edges: list[tuple[str, str]]):
        self.nodes = nodes
        self.edges = edges
        self._layout = self._compute_layout()

    def __repr__(self) -> str:
        ops = sum(n.kind == "op" for n in self.nodes)
        return (f"<GraphPicture: {len(self.nodes) - ops} tensors, {ops} ops, "
                f"{len(self.edges)} edges>")

    # ----------------------------------------------------------- layout
    def _compute_layout(self):
        """Boxes as (x, y, width, height) in pixels, y growing downwards (SVG's way)."""
        levels: dict[int, list[GraphNode]] = {}
        for node in self.nodes:
            levels.setdefault(node.level, []).append(node)
        top = max(levels) if levels else 0
        sizes = {n.id: (max(len(s) for s in n.lines) * _CHAR_W + 2 * _PAD,
                        len(n.lines) * _LINE_H + 2 * _PAD - 4) for n in self.nodes}
        row_w = {lv: sum(sizes[n.id][0] for n in row) + _GAP_X * (len(row) - 1)
                 for lv, row in levels.items()}
        width = max(row_w.values(), default=0) + 2 * _GAP_X
        row_h = {lv: max(sizes[n.id][1] for n in row) for lv, row in levels.items()}
        boxes, y = {}, _GAP_Y / 2
        for lv in range(top, -1, -1):           # the output's level first: top of the page
            row = levels.get(lv, [])
            x = (width - row_w.get(lv, 0)) / 2
            for n in row:                       # in walk order: first inputs on the left
                w, h = sizes[n.id]
                boxes[n.id] = (x, y + (row_h[lv] - h) / 2, w, h)
                x += w + _GAP_X
            y += row_h.get(lv, 0) + _GAP_Y
        return boxes, width, y - _GAP_Y / 2

    # ----------------------------------------------------------- SVG
    def svg(self) -> str:
        """The picture as an SVG document (a string)."""
        boxes, width, height = self._layout
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
               f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
               f'font-family="monospace" font-size="12">',
               '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
               'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
               '<path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>']
        for src, dst in self.edges:             # forward: from below (input) up to the user
            (sx, sy, sw, _), (dx, dy, dw, dh) = boxes[src], boxes[dst]
            out.append(f'<line class="edge" data-from="{src}" data-to="{dst}" '
                       f'x1="{sx + sw / 2:.1f}" y1="{sy:.1f}" x2="{dx + dw / 2:.1f}" '
                       f'y2="{dy + dh:.1f}" stroke="#555" marker-end="url(#arrow)"/>')
        for node in self.nodes:
            x, y, w, h = boxes[node.id]
            fill, rx = ("#dbe9f6", 10) if node.kind == "op" else ("#fff8dc", 2)
            out.append(f'<g class="node {node.kind}" id="{node.id}">'
                       f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
                       f'rx="{rx}" fill="{fill}" stroke="#333"/>')
            for i, line in enumerate(node.lines):
                color = "#c0392b" if line.startswith("grad") else "#000"
                weight = ' font-weight="bold"' if i == 0 else ""
                out.append(f'<text x="{x + w / 2:.1f}" y="{y + _PAD + 8 + i * _LINE_H:.1f}" '
                           f'text-anchor="middle" fill="{color}"{weight}>'
                           f'{html.escape(line)}</text>')
            out.append("</g>")
        out.append("</svg>")
        return "\n".join(out)

    def _repr_svg_(self) -> str:
        return self.svg()

    # ----------------------------------------------------------- matplotlib
    def figure(self, dpi: int = 100):
        """The same picture as a matplotlib Figure (for PNG/PDF, or to place in a grid)."""
        try:
            from matplotlib.figure import Figure
            from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
        except ImportError:
            raise ImportError("GraphPicture.figure/save to PNG needs matplotlib: pip install "
                              "matplotlib (SVG needs nothing: use .svg() or a .svg path)"
                              ) from None
        boxes, width, height = self._layout
        fig = Figure(figsize=(max(width, 50) / dpi, max(height, 50) / dpi), dpi=dpi)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)                  # SVG's coordinates: y grows downwards
        ax.axis("off")
        for src, dst in self.edges:
            (sx, sy, sw, _), (dx, dy, dw, dh) = boxes[src], boxes[dst]
            ax.add_patch(FancyArrowPatch((sx + sw / 2, sy), (dx + dw / 2, dy + dh),
                                         arrowstyle="-|>", mutation_scale=10, color="#555"))
        points = 72 / dpi                       # font sizes are in points, boxes in pixels
        for node in self.nodes:
            x, y, w, h = boxes[node.id]
            fill = "#dbe9f6" if node.kind == "op" else "#fff8dc"
            style = "round,pad=0,rounding_size=8" if node.kind == "op" else "square,pad=0"
            ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle=style, facecolor=fill,
                                        edgecolor="#333"))
            for i, line in enumerate(node.lines):
                ax.text(x + w / 2, y + _PAD + 4 + i * _LINE_H, line, ha="center",
                        va="center", family="monospace", fontsize=11 * points,
                        color="#c0392b" if line.startswith("grad") else "black",
                        weight="bold" if i == 0 else "normal")
        return fig

    def save(self, path) -> None:
        """Write the picture: ``.svg`` as the SVG text (no matplotlib needed); any other
        suffix matplotlib knows (``.png``, ``.pdf``) through matplotlib."""
        path = os.fspath(path)
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if path.lower().endswith(".svg"):
            with open(path, "w", encoding="utf-8") as f:
                f.write(self.svg())
        else:
            self.figure().savefig(path, dpi=150)


def draw_graph(output, params: Mapping[str, object] | None = None,
               show_values: bool = True) -> GraphPicture:
    """The computation graph that produced ``output`` (an edu_nn Tensor), as a picture.

    ``output`` may also be a static graph, ``edu_nn.compile(step).graph()`` (or the compiled
    step itself): then every primitive call of the whole step is an op box (forward, the
    backward's primitives, the optimizer's update), the arguments (``x0``...) and the state it
    reads (``a0``...) are the inputs at the bottom, and a value the step writes back names
    where it goes.

    Args:
        output: the tensor whose history to draw (usually a loss). Draw it before or after
            ``output.backward()``; after, each tensor that has a ``.grad`` (the leaves, and
            tensors you called ``retain_grad()`` on) shows it.
        params: optional names for tensors, e.g. ``{"x": x, "w": w}`` or
            ``dict(model.named_parameters())`` (torchviz's ``make_dot(params=...)``).
        show_values: print a tensor's value when it has at most 4 elements.
    Returns:
        a GraphPicture: shown inline by Jupyter, ``.save("g.svg")`` / ``.save("g.png")``.
    """
    from ..compiled_step import CapturedGraph, CompiledStep
    from ..tensor import Tensor
    if isinstance(output, CompiledStep):
        output = output.graph()
    if isinstance(output, CapturedGraph):
        return _draw_static(output)
    if not isinstance(output, Tensor):
        raise TypeError(f"draw_graph: expected an edu_nn Tensor (e.g. a loss), or a compiled "
                        f"step's graph (edu_nn.compile(...).graph()), got "
                        f"{type(output).__name__}")
    names = {id(t): name for name, t in (params or {}).items()}
    tensor_ids: dict[int, str] = {}
    op_ids: dict[int, str] = {}
    found: list[tuple[str, object]] = []        # (id, Tensor or Function) in walk order
    edges: list[tuple[str, str]] = []

    def tensor_id(t) -> str:
        if id(t) not in tensor_ids:
            tensor_ids[id(t)] = f"t{len(tensor_ids)}"
            found.append((tensor_ids[id(t)], t))
            stack.append(t)
        return tensor_ids[id(t)]

    stack: list = []
    tensor_id(output)
    while stack:                                # iterative: deep graphs must not recurse
        t = stack.pop()
        fn = t.grad_fn
        if fn is None:
            continue
        op = op_ids.get(id(fn))
        if op is None:
            op = op_ids[id(fn)] = f"op{len(op_ids)}"
            found.append((op, fn))
            for inp in getattr(fn, "inputs", ()):
                if inp is not None:
                    edges.append((tensor_id(inp), op))
        edges.append((op, tensor_ids[id(t)]))

    # levels: leaves 0; an op one above its highest input; a tensor one above its op
    inputs_of: dict[str, list[str]] = {}
    for src, dst in edges:
        inputs_of.setdefault(dst, []).append(src)
    users_of: dict[str, list[str]] = {}
    for src, dst in edges:
        users_of.setdefault(src, []).append(dst)
    waiting = {node_id: len(inputs_of.get(node_id, [])) for node_id, _ in found}
    level: dict[str, int] = {}
    ready = [node_id for node_id, n in waiting.items() if n == 0]
    while ready:                                # Kahn's order: a node after all its inputs
        node_id = ready.pop()
        level[node_id] = 1 + max((level[s] for s in inputs_of.get(node_id, [])), default=-1)
        for user in users_of.get(node_id, []):
            waiting[user] -= 1
            if waiting[user] == 0:
                ready.append(user)
    for node_id, _ in found:          # a leaf sits just below its first user: short arrows
        if node_id not in inputs_of and node_id in users_of:
            level[node_id] = min(level[u] for u in users_of[node_id]) - 1

    nodes = []
    for node_id, obj in found:
        if node_id.startswith("op"):
            nodes.append(GraphNode(node_id, "op", type(obj).__name__, (type(obj).__name__,),
                                   None, None, level[node_id]))
            continue
        name = names.get(id(obj)) or ("output" if obj is output else
                                      "tensor" if obj.grad_fn is not None else
                                      "leaf" if obj.requires_grad else "input")
        lines = [name, f"{tuple(obj.shape)} {obj.dtype}"]
        if show_values and obj.numel() <= 4:
            lines.append("= " + _format_array(_numpy(obj)))
        grad = None
        if obj.grad is not None:
            grad = _format_array(_numpy(obj.grad))
            lines.append("grad " + grad)
        nodes.append(GraphNode(node_id, "tensor", name, tuple(lines), tuple(obj.shape), grad,
                               level[node_id]))
    return GraphPicture(nodes, edges)


def _draw_static(graph) -> GraphPicture:
    """A GraphPicture of a compiled step's static graph (see draw_graph)."""
    from ..compiled_step import _describe
    writes = {name: _describe(place) for place, name in graph.writes}
    outputs = set(graph.outputs)
    found: list[GraphNode] = []
    edges: list[tuple[str, str]] = []
    level: dict[str, int] = {}

    def value_node(name: str) -> str | None:
        if name in level or not name[:1] in "xav":
            return name if name in level else None
        if name[0] == "v":
            return None                               # made by a record: added there
        label = (f"argument {name}" if name[0] == "x"
                 else f"{name}: {_describe(graph.reads[name])}")
        level[name] = 0
        found.append(GraphNode(name, "tensor", label, (label,), None, None, 0))
        return name

    for r in graph.records:
        op = f"op{r.index}"
        inputs = [u for u in sorted(r.uses) if value_node(u) is not None]
        level[op] = 1 + max((level[u] for u in inputs), default=-1)
        title = ("! " if r.is_sync else "") + r.prim + (" (in place)" if r.inplace else "")
        found.append(GraphNode(op, "op", r.prim, (title,), None, None, level[op]))
        edges += [(u, op) for u in inputs]
        outs = () if r.out is None else (r.out if isinstance(r.out, tuple) else (r.out,))
        for out in outs:
            level[out] = level[op] + 1
            lines = [out + (" (output)" if out in outputs else "")]
            if r.shape is not None and isinstance(r.out, str):
                lines.append(f"{r.shape} {r.dtype}")
            if out in writes:
                lines.append("-> " + writes[out])
            found.append(GraphNode(out, "tensor", out, tuple(lines), r.shape, None,
                                   level[out]))
            edges.append((op, out))
    return GraphPicture(found, edges)
