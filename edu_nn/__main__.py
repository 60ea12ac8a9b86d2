"""``python -m edu_nn ...`` runs the ``edu-nn`` command (see :mod:`edu_nn.cli`)."""
from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
