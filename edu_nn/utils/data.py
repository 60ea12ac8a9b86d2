"""``edu_nn.utils.data``: torch.utils.data's names, re-exported from ``edu_nn.data``.

    from edu_nn.utils.data import DataLoader, Dataset, TensorDataset, random_split
"""
from ..data import (BatchSampler, ConcatDataset, DataLoader, Dataset, RandomSampler,  # noqa: F401
                    Sampler, SequentialSampler, Subset, SubsetRandomSampler, TensorDataset,
                    default_collate, random_split)

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader",
           "default_collate", "Sampler", "SequentialSampler", "RandomSampler",
           "SubsetRandomSampler", "BatchSampler"]
