"""An offline stand-in for the few torchvision names the suite's programs use.

Not torchvision: ``datasets.MNIST`` and ``datasets.FashionMNIST`` serve the same small,
generated image set on both sides (scikit-learn's 8x8 digits shipped with edu_nn, scaled up
to 28x28 uint8 images: 1437 training and 360 test images, labels 0-9), never downloading.
``transforms.ToTensor``/``Normalize``/``Compose``/``Lambda`` build tensors of the library
the program runs with (``EDU_NN_COMPAT_LIB``: torch or edu_nn, set by runner.py), so the
data are identical on both sides; only the tensor type differs.
"""
from . import datasets, transforms  # noqa: F401
