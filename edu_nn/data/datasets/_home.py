"""Where datasets live on disk: ``$EDU_NN_DATA`` if set, else ``~/.cache/edu_nn``."""
from __future__ import annotations

import os
from pathlib import Path


def data_home(root=None) -> Path:
    """The folder for dataset files and caches (not created here).

    ``root`` if given, else the ``EDU_NN_DATA`` environment variable, else ``~/.cache/edu_nn``.
    """
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("EDU_NN_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "edu_nn"
