"""torch's device idiom: ``device``, ``cuda``, ``accelerator``.

Tutorials start with one of

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"

and then call ``model.to(device)`` and ``x.to(device)``. In edu_nn a device is a string
(``"cpu"``, ``"cuda"``, ``"cuda:1"``), so :class:`device` *is* a ``str`` with torch's
``.type`` and ``.index``; everything that takes a device string takes it. Whether a GPU
exists depends on the selected backend: NumPy has only the CPU; torch and JAX report theirs.
"""
from __future__ import annotations

import types


_default_device = "cpu"


def default_device() -> str:
    """The device factories use when given none (see ``set_default_device``); "cpu" at start."""
    return _default_device


def set_default_device(device) -> None:
    """Make factories (``zeros``, ``randn``, ``tensor``, ...) put new tensors on ``device``
    unless given ``device=``, like ``torch.set_default_device``. ``None`` means "cpu"."""
    global _default_device
    _default_device = "cpu" if device is None else str(device)


class device(str):
    """``device("cuda:0")``, ``device("cuda", 0)``, ``device("cpu")``: a device name with
    torch's ``.type`` ("cpu", "cuda", ...) and ``.index`` (int or None)."""

    def __new__(cls, type_or_name, index: int | None = None):
        name = str(type_or_name)
        if index is not None:
            if ":" in name:
                raise ValueError(f"device(): {name!r} already has an index; pass "
                                 f"device({name.split(':')[0]!r}, {index}) or "
                                 f"device({name!r})")
            name = f"{name}:{int(index)}"
        kind, _, idx = name.partition(":")
        if not kind or (idx and not idx.isdigit()):
            raise ValueError(f"device(): expected a name like 'cpu', 'cuda' or 'cuda:1', "
                             f"got {name!r}")
        return super().__new__(cls, name)

    @property
    def type(self) -> str:
        return self.partition(":")[0]

    @property
    def index(self) -> int | None:
        idx = self.partition(":")[2]
        return int(idx) if idx else None

    def __repr__(self) -> str:
        return f"device(type={self.type!r}" + (f", index={self.index})" if self.index is not None
                                                else ")")


def _gpus(kind: str = "cuda") -> list[str]:
    """The selected backend's devices of one kind (NumPy: none)."""
    from .backend_selection import get_backend
    return [d for d in get_backend().devices() if d.partition(":")[0] == kind]


def _cuda_namespace() -> types.SimpleNamespace:
    def is_available() -> bool:
        """Whether the selected backend has a CUDA device (never on NumPy)."""
        return bool(_gpus())

    def device_count() -> int:
        return len(_gpus())

    def synchronize(device=None) -> None:
        """Wait for queued GPU work. edu_nn's backends return finished arrays to Python at
        every op boundary it times, so there is nothing to wait for here."""

    def manual_seed(seed: int) -> None:
        """Accepted for torch code; edu_nn has one generator for every device, which
        ``edu_nn.manual_seed`` seeds, so this changes nothing."""

    manual_seed_all = manual_seed

    def current_device() -> int:
        return 0

    def set_device(device) -> None:
        """Accepted for torch code; pass the device to ``.to()`` instead (edu_nn has no
        current-GPU state)."""

    def get_device_name(device=None) -> str:
        if not is_available():
            raise RuntimeError("cuda.get_device_name(): no CUDA device on the selected backend")
        return "CUDA device (via the selected backend)"

    return types.SimpleNamespace(
        is_available=is_available, device_count=device_count, synchronize=synchronize,
        manual_seed=manual_seed, manual_seed_all=manual_seed_all, current_device=current_device,
        set_device=set_device, get_device_name=get_device_name)


def _accelerator_namespace() -> types.SimpleNamespace:
    def is_available() -> bool:
        """Whether the selected backend has an accelerator (a CUDA device)."""
        return bool(_gpus())

    def current_accelerator(check_available: bool = False):
        """The accelerator as a :class:`device` (``device("cuda")``), or None without one."""
        return device("cuda") if _gpus() else None

    def device_count() -> int:
        return len(_gpus())

    return types.SimpleNamespace(is_available=is_available,
                                 current_accelerator=current_accelerator,
                                 device_count=device_count)


cuda = _cuda_namespace()
accelerator = _accelerator_namespace()
