"""edu_nn.nn: the neural-network library built on the autodiff core (torch.nn's names).

    from edu_nn import nn
    import edu_nn.nn.functional as F

    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    loss = nn.CrossEntropyLoss()(model(x), y)

    Module, Parameter     registration by attribute assignment, state_dict, to(backend=)
    containers            Sequential, ModuleList, ModuleDict, Identity
    layers                Linear, Conv1d/2d, MaxPool1d/2d, AvgPool1d/2d, Flatten, Dropout,
                          Dropout2d, BatchNorm1d/2d, LayerNorm, Embedding, Residual,
                          BasicBlock, activations
    losses                MSELoss, L1Loss, HuberLoss, SmoothL1Loss, CrossEntropyLoss,
                          NLLLoss, BCELoss, BCEWithLogitsLoss
    init, functional, utils (clip_grad_norm_, L1/L2 penalties)
"""
from . import functional, init, utils
from .modules import *  # noqa: F401,F403
from .modules import __all__ as _modules_all
from .parameter import Parameter

__all__ = ["functional", "init", "utils", "Parameter", *_modules_all]
