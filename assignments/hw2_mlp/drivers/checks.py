"""Trusted harness: call one of your functions on several argument lists in one process.

The grader uses it to check several cases of a function in a single call (each graded call
starts a fresh Python process, which takes a moment). The results come back in order.
"""
import importlib


def call_many(file, name, arg_lists):
    """[getattr(module, name)(*args) for args in arg_lists], module being ``file``
    (e.g. "backward_ops.py")."""
    module = importlib.import_module(file[:-3] if file.endswith(".py") else file)
    function = getattr(module, name)
    return [function(*args) for args in arg_lists]
