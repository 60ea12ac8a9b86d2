"""The README's commands and snippets run as written (docs that lie are worse than none).

Two levels:

* ``test_readme_python_block_runs``: every Python block, in this test process (fast; this
  environment has every extra).
* ``test_readme_block_in_a_fresh_venv`` and ``test_readme_inline_command_in_a_fresh_venv``
  (marker ``readme_venv``): a copy of this checkout gets a fresh venv made exactly by the
  README's first command (``python3 -m venv .venv && . .venv/bin/activate && pip install -e
  ".[train]" && edu-nn train ...``, run as written), and every other bash and Python block
  runs in it, as a new user would run them. A block may say it needs more with an HTML
  comment on the line before it:

      <!-- needs: jax -->                  runs in this test's environment instead (.[all])
      <!-- not run by tests: the reason --> skipped, with the reason

  The commands the README's prose names (``edu-nn train --data digits``, ...) run in the
  fresh venv too, shortened to one epoch where they train.

The venv is made once per test session (on one xdist worker: the tests share an
``xdist_group``); pip's cache keeps it quick after the first time. Without CI=true, a pip that
cannot reach an index skips these tests; in CI it fails them.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Block:
    language: str          # "bash" or "python"
    code: str
    line: int              # 1-based line of the opening fence
    needs: tuple[str, ...] = ()
    skip: str | None = None

    @property
    def id(self) -> str:
        return f"{self.language}-line{self.line}"


FENCE = re.compile(r"(?:<!--\s*(needs|not run by tests):\s*(.*?)\s*-->\n)?"
                   r"```(bash|python)\n(.*?)```", re.S)


def readme_blocks(text: str = README) -> list[Block]:
    blocks = []
    for m in FENCE.finditer(text):
        kind, value, language, code = m.groups()
        line = text.count("\n", 0, m.start(3)) + 1
        blocks.append(Block(language, code, line,
                            needs=tuple(value.split()) if kind == "needs" else (),
                            skip=value if kind == "not run by tests" else None))
    return blocks


BLOCKS = readme_blocks()
PYTHON_BLOCKS = [b for b in BLOCKS if b.language == "python"]
FIRST_COMMAND = BLOCKS[0]
#: Commands the README's prose names, as run here (training shortened to one epoch).
INLINE = {
    "edu-nn train --help": "edu-nn train --help",
    "edu-nn tune": "edu-nn tune --data digits --trials 2 --epochs 1",
    "edu-nn train --data digits": "edu-nn train --data digits --epochs 1",
    "python examples/digits_nn.py --model cnn": "python examples/digits_nn.py --model cnn "
                                                "--epochs 1",
    "edu-nn info": "edu-nn info",
}


# ------------------------------------------------------------------ in this process
def test_readme_has_the_blocks_this_file_expects():
    assert len(PYTHON_BLOCKS) >= 2
    assert FIRST_COMMAND.language == "bash" and not FIRST_COMMAND.needs
    assert FIRST_COMMAND.code.startswith('python3 -m venv .venv && . .venv/bin/activate && '
                                         'pip install -e ".[train]"')
    for named in INLINE:
        assert f"`{named}" in README, f"the README no longer mentions `{named}`"


def test_markers_are_read():
    text = ("<!-- needs: torch jax -->\n```python\nx = 1\n```\n\n"
            "<!-- not run by tests: a reason -->\n```bash\nls\n```\n```bash\npwd\n```\n")
    a, b, c = readme_blocks(text)
    assert (a.needs, a.skip, a.line) == (("torch", "jax"), None, 2)
    assert (b.needs, b.skip) == ((), "a reason") and (c.needs, c.skip) == ((), None)


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda b: b.id)
def test_readme_python_block_runs(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)          # blocks may write files (model.npz)
    exec(compile(block.code, f"README.md line {block.line}", "exec"), {})


# ------------------------------------------------------------------ in a fresh venv
def _clean_env() -> dict[str, str]:
    """This environment minus its venv: the README's commands find the system python3."""
    env = dict(os.environ)
    venv = env.pop("VIRTUAL_ENV", None) or (sys.prefix if sys.prefix != sys.base_prefix
                                            else None)
    if venv:
        bin_dir = os.path.join(venv, "bin")
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                      if os.path.normpath(p) != os.path.normpath(bin_dir))
    for name in ("PYTHONPATH", "PYTHONHOME", "EDU_NN_BACKEND", "JAX_ENABLE_X64"):
        env.pop(name, None)
    env["MPLBACKEND"] = "Agg"
    return env


def _copy_checkout(dest: Path) -> None:
    """The files git would give a fresh clone (tracked, and new files not ignored)."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                                 "--exclude-standard"], cwd=ROOT, capture_output=True,
                                check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):   # not a git checkout: skip the junk
        shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(
            ".git", ".venv", "runs", "build", "*.egg-info", "__pycache__", ".pytest_cache",
            ".hypothesis"))
        return
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def _run(command: str, cwd: Path, env: dict, timeout: int = 900):
    return subprocess.run(["bash", "-c", f"set -eo pipefail\n{command}"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _tail(proc, n: int = 3000) -> str:
    return (f"exit status {proc.returncode}\nstdout:\n{proc.stdout[-n:]}\n"
            f"stderr:\n{proc.stderr[-n:]}")


@pytest.fixture(scope="session")
def fresh_venv(tmp_path_factory):
    """(a copy of the checkout with .venv made by the README's first command, env)."""
    if shutil.which("bash") is None:
        pytest.skip("the README's commands are bash")
    checkout = tmp_path_factory.mktemp("readme") / "edu_nn"
    checkout.mkdir()
    _copy_checkout(checkout)
    env = _clean_env()
    proc = _run(FIRST_COMMAND.code, checkout, env)
    if proc.returncode != 0:
        offline = re.search(r"No matching distribution|Could not find a version|"
                            r"Failed to establish a new connection", proc.stdout + proc.stderr)
        if offline and not os.environ.get("CI"):
            pytest.skip(f"pip could not install the README's first command here (no index "
                        f"reachable?):\n{proc.stderr[-1000:]}")
        pytest.fail(f"the README's first command failed in a fresh venv:\n{_tail(proc)}")
    return checkout, env, proc


def _in_fresh_venv(command: str, fresh_venv, needs: tuple[str, ...] = ()):
    checkout, env, _ = fresh_venv
    if needs:   # this test's environment, which has every extra
        env = dict(env, PATH=os.pathsep.join([os.path.dirname(sys.executable), env["PATH"]]))
        return _run(command, checkout, env)
    return _run(f". .venv/bin/activate\n{command}", checkout, env)



@pytest.mark.readme_venv
@pytest.mark.xdist_group("readme_venv")
def test_readme_first_command_trains_and_installs_no_more_than_it_says(fresh_venv):
    checkout, env, proc = fresh_venv
    assert "test accuracy" in proc.stdout, _tail(proc)
    accuracy = float(re.search(r"test accuracy ([\d.]+)%", proc.stdout).group(1))
    assert accuracy > 90, proc.stdout[-2000:]
    for name in ("metrics.json", "model.npz", "curves.png"):
        assert (checkout / "runs" / "mnist1d-cnn-numpy" / name).exists(), name
    # what the first command installed: no scikit-learn, torch or jax
    listed = _in_fresh_venv("python -m pip list --format=freeze", fresh_venv)
    installed = {line.split("==")[0].lower() for line in listed.stdout.splitlines()}
    assert not installed & {"scikit-learn", "torch", "jax", "jaxlib"}, sorted(installed)


@pytest.mark.readme_venv
@pytest.mark.xdist_group("readme_venv")
@pytest.mark.parametrize("block", BLOCKS[1:], ids=lambda b: b.id)
def test_readme_block_in_a_fresh_venv(block, fresh_venv, tmp_path):
    if block.skip:
        pytest.skip(f"README.md line {block.line}: {block.skip}")
    if block.language == "python":
        script = tmp_path / "block.py"
        script.write_text(block.code)
        command = f'python "{script}"'
    else:
        command = block.code
    proc = _in_fresh_venv(command, fresh_venv, block.needs)
    assert proc.returncode == 0, f"README.md line {block.line}:\n{_tail(proc)}"


@pytest.mark.readme_venv
@pytest.mark.xdist_group("readme_venv")
@pytest.mark.parametrize("named", sorted(INLINE))
def test_readme_inline_command_in_a_fresh_venv(named, fresh_venv):
    proc = _in_fresh_venv(INLINE[named], fresh_venv)
    assert proc.returncode == 0, f"`{named}` from the README:\n{_tail(proc)}"
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
