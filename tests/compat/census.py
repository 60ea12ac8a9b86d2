"""Census: which torch names do public PyTorch teaching programs use that edu_nn lacks?

Run: ``python tests/compat/census.py MIRROR_DIR...`` where each MIRROR_DIR is a bare git
clone (pytorch/examples, karpathy/micrograd, karpathy/nn-zero-to-hero, d2l-ai/d2l-en) or a
folder of .py files (tutorials read one by one). It reads .py files, notebook code cells and
d2l's ``#@tab pytorch`` markdown blocks, counts ``torch.X``, ``nn.X``, ``F.X``, ``optim.X``,
``torch.utils.data.X`` and ``.method(`` names, and prints a Markdown table of the names that
torch has and edu_nn does not, most used first. Not a test; docs/torch_compat.md keeps its
output.
"""
from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys

PREFIXES = {  # spelling in source -> (torch module path, edu_nn module path)
    "torch.nn.functional.": ("torch.nn.functional", "edu_nn.nn.functional"),
    "F.": ("torch.nn.functional", "edu_nn.nn.functional"),
    "torch.nn.init.": ("torch.nn.init", "edu_nn.nn.init"),
    "nn.init.": ("torch.nn.init", "edu_nn.nn.init"),
    "torch.nn.": ("torch.nn", "edu_nn.nn"),
    "nn.": ("torch.nn", "edu_nn.nn"),
    "torch.optim.lr_scheduler.": ("torch.optim.lr_scheduler", "edu_nn.optim.lr_scheduler"),
    "torch.optim.": ("torch.optim", "edu_nn.optim"),
    "optim.": ("torch.optim", "edu_nn.optim"),
    "torch.utils.data.": ("torch.utils.data", "edu_nn.utils.data"),
    "torch.cuda.": ("torch.cuda", "edu_nn.cuda"),
    "torch.autograd.": ("torch.autograd", "edu_nn.autograd"),
    "torch.": ("torch", "edu_nn"),
}
NAME = re.compile(r"(?<![\w.])((?:torch\.(?:nn\.(?:functional\.|init\.)?|optim\.(?:lr_scheduler\.)?"
                  r"|utils\.data\.|cuda\.|autograd\.)?)|nn\.(?:init\.)?|F\.|optim\.)([A-Za-z_]\w*)")
METHOD = re.compile(r"\.([a-z_][a-z0-9_]*)\(")


def sources_from_git(git_dir: str):
    files = subprocess.run(["git", "--git-dir", git_dir, "ls-tree", "-r", "--name-only", "HEAD"],
                           capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        if f.startswith(("distributed/", "cpp/", "fx/")) or not f.endswith((".py", ".ipynb", ".md")):
            continue
        text = subprocess.run(["git", "--git-dir", git_dir, "show", f"HEAD:{f}"],
                              capture_output=True, text=True).stdout
        yield f, text


def code_of(path: str, text: str) -> str:
    if path.endswith(".ipynb"):
        try:
            cells = json.loads(text)["cells"]
        except (ValueError, KeyError):
            return ""
        return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    if path.endswith(".md"):  # d2l: only the PyTorch tab's code blocks
        blocks = re.findall(r"```\{\.python \.input[^}]*\}\n(.*?)```", text, re.S)
        return "\n".join(b for b in blocks if "#@tab pytorch" in b or "#@tab all" in b)
    return text


def has(module_path: str, name: str) -> bool:
    """Whether ``module_path.name`` exists (a module attribute, or a namespace such as
    ``edu_nn.cuda`` that is an object rather than a module)."""
    import importlib
    root, *rest = module_path.split(".")
    obj = importlib.import_module(root)
    for part in rest:
        obj = getattr(obj, part, None)
        if obj is None:
            return False
    return hasattr(obj, name)


def main(dirs: list[str]) -> None:
    import torch
    import edu_nn
    names, methods, where = collections.Counter(), collections.Counter(), collections.defaultdict(set)
    for d in dirs:
        items = (sources_from_git(d) if os.path.exists(os.path.join(d, "HEAD"))
                 else ((f, open(os.path.join(d, f)).read()) for f in sorted(os.listdir(d))))
        label = os.path.basename(os.path.dirname(d.rstrip("/"))) if d.endswith("repo") else d
        for path, text in items:
            code = code_of(path, text)
            if "torch" not in code:
                continue
            for prefix, name in NAME.findall(code):
                torch_mod, edu_mod = PREFIXES[prefix]
                if has(torch_mod, name):
                    names[(torch_mod, edu_mod, name)] += 1
                    where[(torch_mod, edu_mod, name)].add(label)
            for m in METHOD.findall(code):
                if hasattr(torch.Tensor, m) and not m.startswith("_"):
                    methods[m] += 1
    print("| torch name | uses | in edu_nn | sources |\n|---|---|---|---|")
    for (tm, em, n), c in names.most_common():
        if c >= 2:
            print(f"| `{tm}.{n}` | {c} | {'yes' if has(em, n) else '**no**'} | "
                  f"{', '.join(sorted(where[(tm, em, n)]))} |")
    print("\n| Tensor method | uses | in edu_nn |\n|---|---|---|")
    for m, c in methods.most_common():
        if c >= 3:
            print(f"| `.{m}()` | {c} | {'yes' if hasattr(edu_nn.Tensor, m) else '**no**'} |")


if __name__ == "__main__":
    main(sys.argv[1:])
