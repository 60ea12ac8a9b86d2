"""Notebook assignments: read a submitted notebook safely, turn it into the module the sandbox
grades, find its written answers, and check questions inline (``grader.check("q1")``).

A notebook assignment lists its notebook in assignment.toml (``files = ["hw4.ipynb"]``). The
instructor writes it as a jupytext py:percent file (``hw4.py``, the source of truth) or as
``hw4.ipynb``, with the usual solution markers in code cells (see
:mod:`edu_nn.grading.markers`) and two kinds of cell metadata (py:percent cell headers)::

    # %% [markdown] question="q1" points=20       a question starts (its tests: q1_*)
    # %% [markdown] written="w1" points=10        a written answer, graded by hand

Grading a notebook (everything here runs in the grader's process and executes nothing):

1. the file is read with a size limit (:data:`MAX_NOTEBOOK_BYTES`), parsed as JSON and
   validated against the nbformat 4 schema (an exported ``.py`` is split at ``# %%`` cells);
2. outputs, attachments and metadata are ignored; only the code cells' sources are read;
3. IPython syntax is neutralised: a cell magic (``%%bash``) drops its cell; in a cell that
   is not valid Python, a line magic or shell escape (``%matplotlib``, ``!pip``,
   ``x = !ls``, ``obj?``) becomes ``pass``;
4. each code cell is parsed on its own, and only its top-level *definitions* are kept:
   functions and classes (with decorators), imports (each wrapped in ``try/except
   ImportError``: the jail has only numpy, so a plotting import must not fail the module), and
   assignments of literal constants. Experiments, plots and ``grader.check`` calls are
   top-level statements and run only in Jupyter, never at import in the grader.

The result is a plain ``.py`` module (``hw4.ipynb`` gives ``hw4.py``) that the sandbox imports
and ``sub.call("hw4.py", ...)`` calls, exactly as for .py assignments.
"""
from __future__ import annotations

import ast
import html
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NotebookError", "MAX_NOTEBOOK_BYTES", "MAX_CELLS", "read_code_and_answers",
           "module_source", "neutralise_magics", "written_cells", "module_name",
           "written_answers_html", "Checker", "CheckResult", "WrittenAnswer"]

#: A submitted notebook larger than this is not read (the grader's file limit).
MAX_NOTEBOOK_BYTES = 5 * 2 ** 20
#: More cells than this is not a homework.
MAX_CELLS = 5000
_CELL = re.compile(r"^#\s*%%(.*)$")
_MAGIC_ASSIGN = re.compile(r"^\s*[\w.,\s\[\]()*]+=\s*[!%]")
_HELP = re.compile(r"^\s*[\w.]+\?{1,2}\s*$")


class NotebookError(ValueError):
    """The notebook cannot be read or turned into a module; the message says why."""


@dataclass
class WrittenAnswer:
    name: str
    points: float
    text: str | None            # the student's answer (markdown), None when not found


def module_name(notebook: str) -> str:
    """The module a notebook file is graded as: ``hw4.ipynb`` -> ``hw4.py``."""
    return notebook[:-len(".ipynb")] + ".py" if notebook.endswith(".ipynb") else notebook


# ------------------------------------------------------------------------ reading
def _read_limited(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        raise NotebookError(f"{path.name} is {size / 2 ** 20:.1f} MiB, more than the "
                            f"{MAX_NOTEBOOK_BYTES // 2 ** 20} MiB a notebook may have: clear "
                            f"its outputs (Kernel > Restart & Clear Output) and save again")
    with open(path, "rb") as f:
        return f.read(MAX_NOTEBOOK_BYTES + 1)


def _value(text: str):
    """A py:percent header value (jupytext writes JSON): ``"q1"`` -> 'q1', ``10`` -> 10."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _cells_from_percent(text: str) -> list[dict]:
    """Cells of a py:percent script (jupytext's or an exported one); a script without any
    ``# %%`` header is one code cell."""
    cells, kind, meta, lines = [], "code", {}, []
    for line in text.splitlines():
        header = _CELL.match(line)
        if header:
            if lines or cells:
                cells.append({"cell_type": kind, "source": "\n".join(lines), "metadata": meta})
            rest = header.group(1)
            kind = "markdown" if re.search(r"\[(markdown|md)\]", rest) else \
                "raw" if "[raw]" in rest else "code"
            meta = {key: _value(value) for key, value in
                    re.findall(r'(\w+)=("[^"]*"|[^\s"]+)', rest)}
            lines = []
        else:
            lines.append(line)
    cells.append({"cell_type": kind, "source": "\n".join(lines), "metadata": meta})
    for c in cells:
        if c["cell_type"] != "code":   # py:percent markdown is commented out
            c["source"] = "\n".join(re.sub(r"^# ?", "", s) for s in c["source"].splitlines())
    return cells


def read_cells(path: str | Path) -> list[dict]:
    """The cells of a submitted ``.ipynb`` (validated nbformat 4) or exported ``.py``:
    ``{"cell_type", "source" (str), "metadata"}``. Raises :class:`NotebookError`."""
    path = Path(path)
    data = _read_limited(path)
    if path.suffix == ".py":
        try:
            return _cells_from_percent(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise NotebookError(f"{path.name} is not UTF-8 text") from None
    try:
        import nbformat
    except ImportError:  # the instructor's problem: say how to fix it
        raise NotebookError("grading notebooks needs nbformat in the grader's environment "
                            "(pip install nbformat; assignment.toml: requires = "
                            "[\"nbformat\"])") from None
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise NotebookError(f"{path.name} is not a notebook (not valid JSON: "
                            f"{str(exc)[:200]}): open it in Jupyter, save, and submit the "
                            f".ipynb file") from None
    if not isinstance(raw, dict) or raw.get("nbformat") != 4:
        raise NotebookError(f"{path.name} is not an nbformat 4 notebook (Jupyter's format): "
                            f"save it from JupyterLab and submit the .ipynb file")
    try:
        nb = nbformat.from_dict(raw)
        with warnings.catch_warnings():   # a missing cell id is not the student's fault
            warnings.simplefilter("ignore")
            nbformat.validate(nb, version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises several kinds
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise NotebookError(f"{path.name} is not a valid notebook ({message[:200]}): open it "
                            f"in Jupyter, save, and submit again") from None
    if len(nb.cells) > MAX_CELLS:
        raise NotebookError(f"{path.name} has {len(nb.cells)} cells (at most {MAX_CELLS})")
    return [{"cell_type": c.cell_type, "source": c.source if isinstance(c.source, str)
             else "".join(c.source), "metadata": dict(c.get("metadata", {}))}
            for c in nb.cells]


# ------------------------------------------------------------------- the module
def neutralise_magics(source: str) -> str:
    """The cell's source without IPython syntax: a cell magic (``%%...`` first) gives an
    empty cell; in a cell that is not valid Python, a line magic, shell escape or help line
    becomes ``pass`` (same indent)."""
    lines = source.splitlines()
    first = next((line.strip() for line in lines if line.strip()), "")
    if first.startswith("%%"):
        return ""
    try:                    # valid Python has no IPython syntax: leave it exactly as it is
        ast.parse(source)   # (a continuation line may start with %, a comment end with ?)
        return source
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pass
    out = []
    for line in lines:
        stripped = line.lstrip()
        indent = line[:len(line) - len(stripped)]
        if (stripped[:1] in ("%", "!", "?") or _MAGIC_ASSIGN.match(line)
                or _HELP.match(line)):
            out.append(f"{indent}pass  # IPython syntax removed by the grader")
        else:
            out.append(line)
    return "\n".join(out)


def _literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
        return True
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        return False


def _import_only_try(node: ast.stmt) -> bool:
    """``try: import x`` / ``except ImportError: ...`` holding only imports, ``pass`` and
    literal assignments (a student's optional import; also this module's own output)."""
    if not isinstance(node, ast.Try):
        return False
    inner = node.body + node.orelse + node.finalbody + [s for h in node.handlers
                                                        for s in h.body]
    return all(isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass)) or
               (isinstance(s, ast.Assign) and _literal(s.value)) for s in inner) and \
        all(h.type is None or _literal_name(h.type) for h in node.handlers)


def _literal_name(node: ast.expr) -> bool:
    names = node.elts if isinstance(node, ast.Tuple) else [node]
    return all(isinstance(n, ast.Name) for n in names)


def module_source(cells: list[dict], filename: str = "notebook") -> str:
    """The graded module made from the code cells: their top-level definitions, in order.

    Raises :class:`NotebookError` naming the code cell of a syntax error.
    """
    parts = [f"# The graded module made from {filename}'s code cells by edu_nn's grader:",
             "# definitions only (functions, classes, imports, constants); top-level",
             "# experiments, plots and checks run in Jupyter, not here.", ""]
    number = 0
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        number += 1
        source = neutralise_magics(cell.get("source", ""))
        try:
            tree = ast.parse(source, f"{filename}, code cell {number}")
        except (SyntaxError, ValueError) as exc:
            line = getattr(exc, "lineno", None)
            raise NotebookError(f"{filename}, code cell {number}"
                                f"{f', line {line}' if line else ''}: syntax error: "
                                f"{getattr(exc, 'msg', exc)}") from None
        except (RecursionError, MemoryError):
            raise NotebookError(f"{filename}, code cell {number} cannot be parsed "
                                f"(nested too deeply)") from None
        lines = source.splitlines()
        kept = []
        for node in tree.body:
            first = min([node.lineno] + [d.lineno for d in
                                         getattr(node, "decorator_list", [])])
            text = "\n".join(lines[first - 1:node.end_lineno])
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                kept.append(text)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                kept.append("try:\n" + "\n".join("    " + t for t in text.splitlines()) +
                            "\nexcept ImportError:\n    pass")
            elif (isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None
                  and _literal(node.value)) or _import_only_try(node):
                kept.append(text)
        if kept:
            parts += [f"# --- code cell {number} ---", *kept, ""]
    return "\n".join(parts) + "\n"


def read_code_and_answers(path: str | Path) -> tuple[str, dict[str, str]]:
    """``(module source, {written answer name: markdown})`` of a submitted notebook or
    exported .py. Raises :class:`NotebookError`."""
    path = Path(path)
    cells = read_cells(path)
    answers = {}
    for c in cells:
        name = c["metadata"].get("written")
        if c["cell_type"] == "markdown" and isinstance(name, str):
            answers[name] = c["source"]
    return module_source(cells, path.name), answers


def written_cells(path: str | Path) -> list[WrittenAnswer]:
    """The written questions of the assignment's own notebook (``written=``, ``points=``)."""
    found = []
    for c in read_cells(path):
        meta = c["metadata"]
        if c["cell_type"] == "markdown" and "written" in meta:
            try:
                points = float(meta.get("points", 0))
            except (TypeError, ValueError):
                points = 0.0
            found.append(WrittenAnswer(str(meta["written"]), points, None))
    return found


def written_answers_html(results: dict, title: str = "Written answers") -> str | None:
    """An HTML page of the written answers in ``results`` (for the staff), or None."""
    manual = [t for t in results.get("tests", []) if t.get("extra_data", {}).get("manual")]
    if not manual:
        return None
    digest = str(results.get("extra_data", {}).get("submission_sha256", ""))
    body = [f"<h1>{html.escape(title)}</h1>",
            f"<p>submission SHA-256: {html.escape(digest)}</p>"]
    for t in manual:
        answer = t["extra_data"].get("answer")
        body += [f"<h2>{html.escape(t['name'])} ({t['max_score']:g} points, graded by hand)</h2>",
                 f"<pre style='white-space: pre-wrap'>{html.escape(answer)}</pre>"
                 if answer is not None else "<p><em>no answer found</em></p>"]
    return ("<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>"
            f"{html.escape(title)}</title></head><body>\n" + "\n".join(body) +
            "\n</body></html>\n")


def export_written(results: dict, out: str | Path) -> list[Path]:
    """Write ``<out>.written.html`` (and ``.pdf`` where weasyprint is installed) next to a
    results.json; returns the files written (none when there is no written question)."""
    page = written_answers_html(results)
    if page is None:
        return []
    out = Path(out)
    target = out.with_name(out.stem + ".written.html")
    target.write_text(page, encoding="utf-8")
    written = [target]
    try:
        import weasyprint  # optional: PDF only where the tool exists
    except Exception:  # noqa: BLE001 - missing or broken native libraries
        return written
    pdf = target.with_suffix(".pdf")
    weasyprint.HTML(string=page).write_pdf(str(pdf))
    return written + [pdf]


# ------------------------------------------------------------------------ authoring
#: Cell metadata kept in generated notebooks (the rest, e.g. jupytext's, is dropped).
_KEPT_CELL_METADATA = ("question", "written", "points", "tags")


def percent_text(path: str | Path) -> str:
    """The py:percent text of an instructor's notebook source (``.py`` as is; ``.ipynb``
    converted with jupytext, outputs dropped)."""
    path = Path(path)
    if path.suffix == ".py":
        return path.read_text(encoding="utf-8")
    jupytext = _jupytext()
    return jupytext.writes(jupytext.read(str(path)), fmt="py:percent")


def _jupytext():
    try:
        import jupytext
    except ImportError:
        raise NotebookError("notebook assignments need jupytext where `edu-nn assign` runs: "
                            "pip install 'edu-nn[notebooks]'") from None
    return jupytext


def ipynb_bytes(percent: str, name: str = "notebook.ipynb") -> bytes:
    """The .ipynb of a py:percent text: outputs and execution counts cleared, metadata
    reduced to the kernel and the question/written/points/tags of each cell."""
    import nbformat
    nb = _jupytext().reads(percent, fmt="py:percent")
    nb.metadata = nbformat.from_dict({
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}})
    for i, cell in enumerate(nb.cells):
        cell.metadata = nbformat.from_dict({k: v for k, v in cell.metadata.items()
                                            if k in _KEPT_CELL_METADATA})
        cell["id"] = f"cell-{i}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.nbformat, nb.nbformat_minor = 4, 5
    nbformat.validate(nb)
    return nbformat.writes(nb).encode()


def notebook_strings(text: str) -> str:
    """Every string of a notebook's JSON (cells, outputs, metadata, keys), one per line, JSON
    escapes undone: what a leak scan reads. A file that is not JSON is returned as is."""
    try:
        data = json.loads(text)
    except ValueError:
        return text
    found: list[str] = []

    def walk(value):
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            for k, v in value.items():
                found.append(k)
                walk(v)
    walk(data)
    return "\n".join(found)


# ------------------------------------------------------------------ inline checks
class CheckResult:
    """What ``grader.check("q1")`` shows: text (``str``) and HTML in Jupyter."""

    def __init__(self, question: str, results: dict) -> None:
        self.question, self.results = question, results
        self.tests = results.get("tests", [])
        self.score = sum(t["score"] for t in self.tests)
        self.max_score = sum(t["max_score"] for t in self.tests)
        self.passed = bool(self.tests) and all(t["status"] == "passed" for t in self.tests)

    def __str__(self) -> str:
        from .check import format_report
        text, _ = format_report(self.results, self.question)
        return text

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.passed else "#cf222e"
        rows = []
        for t in self.tests:
            mark = "&#10003;" if t["status"] == "passed" else "&#10007;"
            rows.append(f"<tr><td>{mark}</td><td><code>{html.escape(t['name'])}</code></td>"
                        f"<td>{t['score']:g} / {t['max_score']:g}</td></tr>")
            if t.get("output"):
                rows.append(f"<tr><td></td><td colspan='2'><pre style='white-space: pre-wrap'>"
                            f"{html.escape(t['output'])}</pre></td></tr>")
        note = html.escape(self.results.get("output") or "")
        return (f"<div><p style='color:{colour}'><b>{html.escape(self.question)}: "
                f"{self.score:g} / {self.max_score:g} points</b></p>"
                + (f"<pre>{note}</pre>" if note else "") +
                f"<table>{''.join(rows)}</table></div>")


class Checker:
    """Run a question's public tests on the notebook's current definitions.

    In a notebook::

        from edu_nn.grading.notebook import Checker
        grader = Checker()
        grader.check("q1")

    ``folder``: the student's assignment folder (assignment.toml and tests/public_*.py, as
    handed out; no instructor file is needed). ``source``: the notebook or .py to check;
    default: in Jupyter, the cells run so far in this kernel; elsewhere the manifest's notebook
    in ``folder``. The tests run through the same grader as Gradescope (sandboxed where this
    process is root, otherwise as this user, as ``edu-nn check`` does).
    """

    def __init__(self, folder: str | Path = ".", source: str | Path | None = None,
                 backend: str = "numpy") -> None:
        from .manifest import load_manifest
        self.folder = Path(folder).resolve()
        self.manifest = load_manifest(self.folder)
        notebooks = [f for f in self.manifest.files if f.endswith(".ipynb")]
        if not notebooks:
            raise ValueError(f"{self.folder}: assignment.toml lists no notebook (.ipynb) "
                             f"in files")
        self.notebook = notebooks[0]
        self.source = Path(source) if source is not None else None
        self.backend = backend

    def _current_code(self, tmp: Path) -> None:
        """Write what is checked into the folder ``tmp``, as the grader will read it: the
        kernel's cells run so far (as an exported py:percent .py), or the source file."""
        if self.source is None:
            try:
                ipython = get_ipython()  # noqa: F821 - defined inside IPython only
            except NameError:
                ipython = None
            if ipython is not None:
                cells = ipython.user_ns.get("In", [])[1:]
                (tmp / module_name(self.notebook)).write_text(
                    "".join(f"# %%\n{cell}\n" for cell in cells), encoding="utf-8")
                return
            source = self.folder / self.notebook
        else:
            source = self.source
        name = self.notebook if source.suffix == ".ipynb" else module_name(self.notebook)
        (tmp / name).write_bytes(_read_limited(source))

    def check(self, question: str) -> CheckResult:
        """The public tests of ``question`` (tests named ``<question>_*``), graded now."""
        import tempfile
        from .grader import grade_submission
        from .sandbox import protections
        with tempfile.TemporaryDirectory(prefix="edu-nn-check-") as tmp:
            try:
                self._current_code(Path(tmp))
            except (NotebookError, OSError) as exc:
                return CheckResult(question, {"tests": [], "output": str(exc)})
            results = grade_submission(tmp, self.folder, backend=self.backend,
                                       include_hidden=False, select=f"{question}_",
                                       unsandboxed=not protections().jail)
        results["tests"] = [t for t in results["tests"] if t["name"].startswith(f"{question}_")]
        if not results["tests"] and not results.get("output"):
            results["output"] = f"no public test of question {question!r}"
        return CheckResult(question, results)

    def check_all(self) -> list[CheckResult]:
        """Every question with public tests."""
        from .check import _public_test_names
        questions = dict.fromkeys(n.split("_")[0] for n in _public_test_names(self.folder))
        return [self.check(q) for q in questions]
