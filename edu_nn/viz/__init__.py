"""edu_nn.viz: pictures of training (matplotlib, imported only when a plot is made).

    from edu_nn.viz import plot_learning_curves
    plot_learning_curves(history, "curves.png")      # returns the Figure; shown in notebooks

    plot_learning_curves(history, path=None)                  loss/metrics per epoch, lr
    plot_weight_grad_magnitudes(recorder, path=None)          per-layer |w| and |grad|
                                                              (edu_nn.train.RecordMagnitudes)
    plot_decision_boundary(model, x, y, path=None)            2-d classifiers
    plot_confusion_matrix(y_true, y_pred, path=None)          and confusion_matrix(...)
    draw_graph(loss, params=None)                             the computation graph: inline
                                                              SVG in Jupyter, .save(.svg/.png)
"""
from .graph import GraphNode, GraphPicture, draw_graph
from .plots import (confusion_matrix, plot_confusion_matrix, plot_decision_boundary,
                    plot_learning_curves, plot_weight_grad_magnitudes)

__all__ = ["plot_learning_curves", "plot_weight_grad_magnitudes", "plot_decision_boundary",
           "plot_confusion_matrix", "confusion_matrix", "draw_graph", "GraphPicture", "GraphNode"]
