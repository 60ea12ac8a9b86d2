"""edu_nn.viz.draw_graph: the picture holds exactly the graph that backward walks.

Expected nodes and edges are written out by hand from the lecture's example
L = 1/2 (x - w)^2 (Sub -> Pow -> Mul) and from a diamond (x used twice), not taken from
draw_graph's own walk; the SVG and PNG renderings are checked to contain/show them."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

import edu_nn
from edu_nn import nn
from edu_nn.viz import GraphPicture, draw_graph


def _by_label(picture):
    return {n.label: n for n in picture.nodes}


def _labelled_edges(picture):
    """Edges as (label, label) pairs, with multiplicity, in a canonical order."""
    label = {n.id: n.label for n in picture.nodes}
    return sorted((label[a], label[b]) for a, b in picture.edges)


def test_lecture_example_nodes_edges_and_gradients(backend_name):
    x = edu_nn.tensor(5.0, requires_grad=True, backend=backend_name)
    w = edu_nn.tensor(3.0, requires_grad=True, backend=backend_name)
    d = x - w
    s = d ** 2
    s.retain_grad()                        # an intermediate that keeps its gradient
    L = 0.5 * s
    L.backward()
    g = draw_graph(L, params={"x": x, "w": w, "d": d, "s": s, "L": L})
    assert isinstance(g, GraphPicture)
    nodes = _by_label(g)
    assert sorted(nodes) == sorted(["x", "w", "d", "s", "L", "Sub", "Pow", "Mul"])
    assert {n.label for n in g.nodes if n.kind == "op"} == {"Sub", "Pow", "Mul"}
    assert _labelled_edges(g) == sorted([("x", "Sub"), ("w", "Sub"), ("Sub", "d"),
                                         ("d", "Pow"), ("Pow", "s"), ("s", "Mul"),
                                         ("Mul", "L")])
    # forward flows up: leaves at level 0, the loss on top
    assert nodes["x"].level == nodes["w"].level == 0
    assert [nodes[k].level for k in ("Sub", "d", "Pow", "s", "Mul", "L")] == [1, 2, 3, 4, 5, 6]
    # after backward: dL/dx = 2, dL/dw = -2 (by hand), dL/ds = 0.5 (retained); d has none
    assert (nodes["x"].grad, nodes["w"].grad, nodes["s"].grad) == ("2", "-2", "0.5")
    assert nodes["d"].grad is None and nodes["Mul"].grad is None
    assert nodes["x"].shape == () and g.nodes[0].label == "L"


def test_a_tensor_used_twice_is_one_node_with_two_edges():
    x = edu_nn.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    g = draw_graph(y, params={"x": x})
    assert [n.label for n in g.nodes if n.kind == "tensor"].count("x") == 1
    assert _labelled_edges(g) == sorted([("x", "Mul"), ("x", "Mul"), ("Mul", "tensor"),
                                         ("tensor", "Sum"), ("Sum", "output")])


def test_module_graph_names_parameters_and_shapes():
    edu_nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    loss = model(edu_nn.randn(5, 3)).pow(2).mean()
    loss.backward()
    g = draw_graph(loss, params=dict(model.named_parameters()))
    nodes = _by_label(g)
    for name, p in model.named_parameters():
        assert nodes[name].shape == tuple(p.shape)
        assert nodes[name].grad is not None          # every parameter got a gradient
    assert nodes["0.weight"].level == 0 and g.nodes[0].shape == ()
    # a leaf sits just below the op that uses it: the second layer's weight is not at 0
    linear_ops = sorted((n for n in g.nodes if n.label == "Linear"), key=lambda n: n.level)
    assert [nodes["2.weight"].level, nodes["2.bias"].level] == [linear_ops[1].level - 1] * 2


def test_svg_draws_every_node_and_edge(tmp_path):
    x = edu_nn.tensor(5.0, requires_grad=True)
    w = edu_nn.tensor(3.0, requires_grad=True)
    L = 0.5 * (x - w) ** 2
    L.backward()
    g = draw_graph(L, params={"x": x, "w": w})
    svg = g._repr_svg_()
    root = ET.fromstring(svg)                         # well-formed XML
    ns = "{http://www.w3.org/2000/svg}"
    groups = {el.get("id"): el for el in root.iter(f"{ns}g")}
    assert set(groups) == {n.id for n in g.nodes}
    lines = [(el.get("data-from"), el.get("data-to")) for el in root.iter(f"{ns}line")]
    assert sorted(lines) == sorted(g.edges)
    texts = " ".join(t.text for t in root.iter(f"{ns}text"))
    assert "grad -2" in texts and "grad 2" in texts and "Sub" in texts
    g.save(tmp_path / "graph.svg")
    assert (tmp_path / "graph.svg").read_text() == svg


def test_png_through_matplotlib(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.image import imread
    x = edu_nn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    g = draw_graph((x.exp() * 2).sum(), params={"x": x})
    g.save(tmp_path / "graph.png")
    image = imread(tmp_path / "graph.png")
    assert image.ndim == 3 and image.shape[0] > 100 and image.std() > 0


def test_rejects_what_is_not_a_tensor():
    with pytest.raises(TypeError, match="expected an edu_nn Tensor"):
        draw_graph([1.0, 2.0])
