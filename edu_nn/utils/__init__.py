"""``edu_nn.utils``: torch.utils's place for ``edu_nn.utils.data`` (torch code imports
``from torch.utils.data import DataLoader``). The data library itself lives in
``edu_nn.data``; this package only gives it torch's address."""
from . import data

__all__ = ["data"]
