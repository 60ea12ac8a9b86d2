"""edu_nn.optim: optimizers and learning-rate schedules, with torch.optim's names.

    import edu_nn.optim as optim
    opt = optim.Adam(model.parameters(), lr=1e-3)
    sched = optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    for epoch in range(epochs):
        for x, y in loader:
            opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()
        sched.step()

Every optimizer's update rule is one short method (``_update_param``) on native arrays,
with the formula from the lecture in its docstring; the numbers equal torch.optim's.
"""
from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW",
           "lr_scheduler"]
