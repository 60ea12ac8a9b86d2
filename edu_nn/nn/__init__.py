"""edu_nn.nn: the neural-network library built on the autodiff core (torch.nn's names).

For now it holds ``functional`` (activations and softmax, torch.nn.functional's names);
Module, Parameter, the layers, the losses and init come later.

    import edu_nn.nn.functional as F
    probs = F.softmax(logits, dim=1)
"""
from . import functional

__all__ = ["functional"]
