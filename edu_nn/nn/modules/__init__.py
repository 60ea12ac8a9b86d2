"""The layers of edu_nn.nn, one small file per family (torch.nn's layout)."""
from .adaptive_pooling import AdaptiveAvgPool1d, AdaptiveAvgPool2d
from .activation import GELU, LeakyReLU, LogSoftmax, PReLU, ReLU, Sigmoid, Softmax, Tanh
from .batchnorm import BatchNorm1d, BatchNorm2d
from .container import ModuleDict, ModuleList, Sequential
from .conv import Conv1d, Conv2d
from .dropout import Dropout, Dropout2d
from .flatten import Flatten
from .linear import Identity, Linear
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MSELoss,
                   NLLLoss, SmoothL1Loss)
from .module import Module
from .normalization import LayerNorm
from .pooling import AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d
from .residual import BasicBlock, Residual
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .sparse import Embedding

__all__ = ["Module", "Sequential", "ModuleList", "ModuleDict", "Identity", "Linear",
           "Conv1d", "Conv2d", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "Flatten",
           "Dropout", "Dropout2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Embedding",
           "ReLU", "LeakyReLU", "PReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax",
           "Residual", "BasicBlock", "MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss",
           "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss",
           "RNN", "GRU", "LSTM", "RNNCell", "GRUCell", "LSTMCell", "AdaptiveAvgPool1d",
           "AdaptiveAvgPool2d"]
