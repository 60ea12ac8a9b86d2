"""edu_nn.data: datasets and minibatches, with torch.utils.data's names.

    from edu_nn.data import DataLoader, TensorDataset, get_dataset
    train = get_dataset("mnist1d", split="train")             # no network needed
    loader = DataLoader(train, batch_size=64, shuffle=True, generator=0)
    for xb, yb in loader:                                      # edu_nn Tensors
        ...

* ``Dataset``, ``TensorDataset``, ``Subset``, ``ConcatDataset``, ``random_split``,
  ``train_val_test_split`` (60/20/20, stratified on request)
* ``DataLoader``, ``default_collate`` and the samplers
* ``datasets``: digits, MNIST-1D, MNIST/Fashion-MNIST IDX files, toy 2-d sets, 1-d regression,
  and the registry ``DATASETS``/``get_dataset``
* ``transforms``: Normalize, GaussianNoise, RandomShift, flips, RandomCrop, Compose
"""
from . import datasets, transforms
from .dataloader import DataLoader, default_collate
from .dataset import (ConcatDataset, Dataset, Subset, TensorDataset, random_split,
                      train_val_test_split)
from .datasets import (DATASETS, DatasetInfo, data_home, get_arrays, get_dataset, load_digits,
                       load_mnist, load_mnist1d, make_circles, make_moons, make_regression1d,
                       make_spirals, make_xor, read_idx, write_idx)
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler
from .transforms import TransformDataset

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split",
           "train_val_test_split", "DataLoader", "default_collate", "Sampler",
           "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "BatchSampler",
           "TransformDataset", "datasets", "transforms", "DATASETS", "DatasetInfo",
           "get_dataset", "get_arrays", "data_home", "load_digits", "load_mnist1d", "load_mnist",
           "read_idx", "write_idx", "make_moons", "make_circles", "make_spirals", "make_xor",
           "make_regression1d"]
