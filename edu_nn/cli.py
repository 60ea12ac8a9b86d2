"""The ``edu-nn`` command (also ``python -m edu_nn``).

    edu-nn info         edu_nn's version, Python's, and a table of the array backends:
                        which are installed, their library versions and devices

Each subcommand is a pair of functions: ``_add_<name>(subparsers)`` declares its arguments
and ``_run_<name>(args) -> int`` does the work and returns the exit status. A new
subcommand (train, tune, grade, ...) adds its pair and one line in :func:`build_parser`.
With no subcommand, ``edu-nn`` prints its help and exits with status 0.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import platform
import sys
from typing import Sequence

from . import __version__, backends


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edu-nn",
        description="edu_nn: an educational deep-learning framework.",
        epilog="Run 'edu-nn COMMAND --help' for the options of one command.")
    parser.add_argument("--version", action="version", version=f"edu_nn {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_info(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``edu-nn`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return args.run(args)


# -------------------------------------------------------------------- info
def _add_info(subparsers) -> None:
    info = subparsers.add_parser(
        "info", help="show versions and which array backends are installed",
        description="Show edu_nn's and Python's versions and every registered array backend: "
                    "whether its library is installed, the library's version, and the "
                    "devices it can use. Backends whose library is missing are not imported.")
    info.set_defaults(run=_run_info)


def _library_version(library: str) -> str:
    try:
        return importlib.metadata.version(library)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def backend_status(name: str) -> dict[str, str]:
    """One row of the backend table. Imports a backend only when its library is installed
    (find_spec looks without importing), so listing never imports a missing torch or jax."""
    library = backends.backend_library(name)
    if library is not None and importlib.util.find_spec(library) is None:
        hint = (f"pip install 'edu-nn[{name}]'" if name in backends.LIBRARY_OF
                else f"needs {library!r}")
        return {"backend": name, "installed": "no", "version": "-", "devices": "-",
                "note": hint}
    try:
        backend = backends.load_backend(name)
        version, devices, note = backend.version(), ",".join(backend.devices()), ""
    except Exception as exc:  # a broken backend must not hide the others
        version = _library_version(library) if library else "?"
        devices, note = "-", f"cannot load: {exc}"
    return {"backend": name, "installed": "yes", "version": version, "devices": devices,
            "note": note}


def _table(rows: list[dict[str, str]], columns: Sequence[str]) -> list[str]:
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in columns) for r in rows]
    return [line.rstrip() for line in lines]


def _run_info(args: argparse.Namespace) -> int:
    names = backends.registered_backends()
    rows = [backend_status(name) for name in names]
    env = os.environ.get("EDU_NN_BACKEND")
    default = env or "numpy"
    lines = [
        f"edu_nn {__version__}",
        f"python {platform.python_version()} ({platform.python_implementation()}, "
        f"{sys.executable})",
        f"platform {platform.platform()}",
        "",
        *_table(rows, ("backend", "installed", "version", "devices", "note")),
        "",
        f"default backend: {default} "
        f"({'from EDU_NN_BACKEND' if env else 'EDU_NN_BACKEND is not set'}); choose with "
        f"backend=..., edu_nn.use_backend(...), edu_nn.set_backend(...) or EDU_NN_BACKEND",
    ]
    if default not in names:
        lines.append(f"warning: EDU_NN_BACKEND={default!r} is not a registered backend "
                     f"(registered: {', '.join(names)}); making a tensor will fail")
    print("\n".join(lines))
    return 0
