"""edu_nn.train: the training loop, its callbacks, a sanity check and hyperparameter search.

    from edu_nn.train import fit, evaluate, EarlyStopping, ModelCheckpoint, overfit_one_batch

    overfit_one_batch(model, loss_fn, opt, (x[:32], y[:32])).message  # catch bugs first
    history = fit(model, loss_fn, opt, train_loader, val_loader, epochs=50,
                  callbacks=[EarlyStopping(patience=5)])
    evaluate(model, test_loader, loss_fn)          # {"loss": ..., "accuracy": ...}

    fit.py        fit, evaluate, TrainingDivergedError, NonFiniteLossError
    history.py    History (per-epoch lists, best(), to_dict())
    callbacks.py  Callback, EarlyStopping, ModelCheckpoint, LRSchedulerCallback,
                  RecordMagnitudes
    metrics.py    accuracy, mse, mae (functions of NumPy arrays)
    sanity.py     overfit_one_batch
    tuner.py      grid_search, random_search, coarse_to_fine, loguniform, uniform, choice
    models.py     the model zoo of ``edu-nn train``: logreg, mlp, cnn; build_model
    experiment.py run_experiment (what ``edu-nn train`` does), the per-dataset recipes
    cli.py        the ``edu-nn train`` and ``edu-nn tune`` subcommands

Pictures of all this are in ``edu_nn.viz``. Nothing here imports matplotlib, and tqdm is
imported only when a progress bar is shown.
"""
from . import tuner
from .callbacks import (Callback, EarlyStopping, LRSchedulerCallback, ModelCheckpoint,
                        RecordMagnitudes, TrainingState, layer_magnitudes)
from .experiment import RECIPES, Recipe, run_experiment
from .fit import NonFiniteLossError, TrainingDivergedError, evaluate, fit
from .history import BestEpoch, History
from .metrics import accuracy, mae, mse
from .models import MODELS, build_model
from .sanity import OverfitResult, overfit_one_batch
from .tuner import (SearchResult, choice, coarse_to_fine, grid_search, loguniform,
                    random_search, uniform)

__all__ = ["fit", "evaluate", "TrainingDivergedError", "NonFiniteLossError", "History",
           "BestEpoch", "Callback", "TrainingState", "EarlyStopping", "ModelCheckpoint",
           "LRSchedulerCallback",
           "RecordMagnitudes", "layer_magnitudes", "accuracy", "mse", "mae",
           "overfit_one_batch", "OverfitResult", "tuner", "grid_search", "random_search",
           "coarse_to_fine", "loguniform", "uniform", "choice", "SearchResult",
           "run_experiment", "Recipe", "RECIPES", "build_model", "MODELS"]
