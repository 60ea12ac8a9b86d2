"""Solution markers: one instructor source gives the student version and the solution version.

The vocabulary is otter's and nbgrader's. Markers are comments, so a source file with markers
is the runnable reference solution. Block markers stand alone on their line; any number of
leading ``#`` is fine (``### BEGIN SOLUTION`` is nbgrader's spelling).

``# BEGIN SOLUTION`` ... ``# END SOLUTION``
    Student: the block is removed. Inside a function body it becomes one line,
    ``raise NotImplementedError("<qualified name>")``, indented like the block's first line
    (the qualified name is Python's ``__qualname__``: ``Mul.backward``,
    ``outer.<locals>.inner``). At module or class level each definition in the block
    becomes a stub: ``name = value`` gives ``name = ...``, a ``def`` keeps its decorators,
    signature and docstring and raises NotImplementedError, a ``class`` keeps its header and
    docstring and stubs its body; other statements (imports, calls, loops) are dropped.
    ``# BEGIN SOLUTION NO PROMPT`` drops the block with no stub at all.
    In a markdown cell of a py:percent notebook the block is removed (a written answer).
    Solution: the marker lines are removed, the code stays.
``code  # SOLUTION``
    Student: the statement's right-hand side becomes ``...``: ``x = f()`` gives ``x = ...``,
    ``x += f()`` gives ``x += ...``, ``return f()`` gives ``return ...``; any other simple
    statement becomes ``...``. Solution: the ``# SOLUTION`` comment is removed.
``# BEGIN PROMPT`` ... ``# END PROMPT``
    Commented lines that the student sees uncommented (in a code cell; in a markdown cell
    they stay markdown): ``# x = ...`` gives ``x = ...``. Removed from the solution.
``# BEGIN HIDDEN TESTS`` ... ``# END HIDDEN TESTS``
    Tests the student never sees: removed from the student version, kept (markers removed)
    in the autograder's copy. (Whole files named ``hidden_*.py`` are never shipped either.)

Blocks do not nest; an unterminated block, a stray END, a block marker after code on the
same line, a statement cut in two by a marker, or a misspelt marker is a
:class:`MarkerError` naming ``file:line``.
"""
from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass, field

__all__ = ["MarkerError", "Transformed", "transform", "find_marker_strings", "BLOCK_KINDS"]

#: Block marker kinds, as written after BEGIN/END.
BLOCK_KINDS = ("SOLUTION", "PROMPT", "HIDDEN TESTS")
_NEAR_MISS = re.compile(r"\b(BEGIN|END)\s*(SOLUTION|PROMPT|HIDDEN)|^\s*SOLUTION\b", re.I)
#: Marker text anywhere in a line (for the leak scan of generated student files).
_MARKER_TEXT = re.compile(r"#+\s*(BEGIN|END)\s+(SOLUTION|PROMPT|HIDDEN\s+TESTS?)\b"
                          r"|#+\s*SOLUTION\s*$", re.I)
_CELL = re.compile(r"^#\s*%%(.*)$")
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


class MarkerError(ValueError):
    """A marker problem in an assignment source; ``str()`` is ``file:line: message``."""

    def __init__(self, filename: str, lineno: int, message: str) -> None:
        super().__init__(f"{filename}:{lineno}: {message}")
        self.filename, self.lineno, self.message = filename, lineno, message


@dataclass
class Transformed:
    """Both versions of one source file, plus what must never reach a student."""
    student: str
    solution: str
    #: (source line, stripped text) of every line a student must not see: solution blocks
    #: (except what the stubs repeat, such as a signature) and ``# SOLUTION`` statements.
    solution_lines: list[tuple[int, str]] = field(default_factory=list)
    #: (source line, stripped text) inside HIDDEN TESTS blocks.
    hidden_test_lines: list[tuple[int, str]] = field(default_factory=list)
    #: (source line, name) of every place the student writes code: the qualified name of the
    #: function (``raise NotImplementedError`` or ``...`` in it), or a module-level name.
    stubs: list[tuple[int, str]] = field(default_factory=list)
    #: True when the file held at least one marker.
    has_markers: bool = False


@dataclass
class _Marker:
    line: int              # 1-based
    action: str            # "BEGIN" | "END" | "LINE"
    kind: str              # one of BLOCK_KINDS, or "SOLUTION" for a line marker
    no_prompt: bool = False
    col: int = 0           # column of the comment (line markers)


@dataclass
class _Block:
    kind: str
    begin: int
    end: int
    no_prompt: bool


def find_marker_strings(text: str) -> list[tuple[int, str]]:
    """(line, text) of every line of ``text`` that contains marker text (leak scan)."""
    return [(i, line.strip()) for i, line in enumerate(text.splitlines(), 1)
            if _MARKER_TEXT.search(line)]


def transform(text: str, filename: str = "<source>") -> Transformed:
    """Split one marked source (a .py module or a py:percent notebook) into its versions.

    Args:
        text: the instructor's source, with markers.
        filename: used in error messages (``file:line: ...``).

    Returns:
        A :class:`Transformed` with the student and solution texts.

    Raises:
        MarkerError: a marker problem, a syntax error in the source, or a student version
            that would not compile (e.g. a block that was a whole ``if`` body).
    """
    return _Transformer(text, filename).run()


class _Transformer:
    def __init__(self, text: str, filename: str) -> None:
        self.text, self.filename = text, filename
        self.lines = text.splitlines()
        self.error = lambda line, msg: MarkerError(filename, line, msg)

    # ------------------------------------------------------------------ reading
    def _tokens(self) -> list[tokenize.TokenInfo]:
        try:
            return list(tokenize.generate_tokens(io.StringIO(self.text).readline))
        except (tokenize.TokenError, IndentationError, SyntaxError) as exc:
            line = getattr(exc, "lineno", None) or (exc.args[1][0] if len(exc.args) > 1 else 1)
            raise self.error(line, f"cannot read the source: {exc.args[0]}") from None

    def _parse(self) -> ast.Module:
        try:
            return ast.parse(self.text, self.filename)
        except SyntaxError as exc:
            raise self.error(exc.lineno or 1, f"syntax error in the source: {exc.msg}") from None

    def _markers(self, tokens) -> list[_Marker]:
        markers = []
        for tok in tokens:
            if tok.type != tokenize.COMMENT:
                continue
            line, col = tok.start
            alone = not self.lines[line - 1][:col].strip()
            words = " ".join(tok.string.lstrip("#").split())
            if words in ("BEGIN SOLUTION", "BEGIN SOLUTION NO PROMPT", "END SOLUTION",
                         "BEGIN PROMPT", "END PROMPT", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
                action, kind = words.split(" ", 1)
                no_prompt = kind.endswith(" NO PROMPT")
                kind = kind.removesuffix(" NO PROMPT")
                if not alone:
                    raise self.error(line, f"'# {words}' must stand alone on its line, "
                                           f"not after code")
                markers.append(_Marker(line, action, kind, no_prompt))
            elif words == "SOLUTION":
                if alone:
                    raise self.error(line, "'# SOLUTION' marks the line of code it ends "
                                           "(x = f()  # SOLUTION); for several lines use "
                                           "# BEGIN SOLUTION / # END SOLUTION")
                markers.append(_Marker(line, "LINE", "SOLUTION", col=col))
            elif _NEAR_MISS.search(tok.string.lstrip("#")):
                raise self.error(line, f"{tok.string.strip()!r} looks like a marker but is not "
                                       f"one: write exactly one of '# BEGIN SOLUTION', "
                                       f"'# END SOLUTION', '# BEGIN SOLUTION NO PROMPT', "
                                       f"'# BEGIN PROMPT', '# END PROMPT', "
                                       f"'# BEGIN HIDDEN TESTS', '# END HIDDEN TESTS', or end a "
                                       f"line of code with '# SOLUTION' (capitals, own line)")
        return markers

    def _blocks(self, markers) -> tuple[list[_Block], list[_Marker]]:
        blocks, line_markers, open_ = [], [], None
        for m in markers:
            if m.action == "LINE":
                if open_ is not None:
                    raise self.error(m.line, f"'# SOLUTION' inside the {open_.kind} block opened "
                                             f"at line {open_.line}: markers do not nest")
                line_markers.append(m)
            elif m.action == "BEGIN":
                if open_ is not None:
                    raise self.error(m.line, f"'# BEGIN {m.kind}' inside the {open_.kind} block "
                                             f"opened at line {open_.line}: markers do not nest; "
                                             f"close it first with '# END {open_.kind}'")
                open_ = m
            else:
                if open_ is None:
                    raise self.error(m.line, f"'# END {m.kind}' without a matching "
                                             f"'# BEGIN {m.kind}' before it")
                if open_.kind != m.kind:
                    raise self.error(m.line, f"'# END {m.kind}' closes the {open_.kind} block "
                                             f"opened at line {open_.line}: expected "
                                             f"'# END {open_.kind}'")
                blocks.append(_Block(m.kind, open_.line, m.line, open_.no_prompt))
                open_ = None
        if open_ is not None:
            raise self.error(open_.line, f"'# BEGIN {open_.kind}' is never closed: add "
                                         f"'# END {open_.kind}' after the block")
        return blocks, line_markers

    def _cell_kinds(self) -> list[str]:
        """Per source line (0-based): 'code' or 'markdown' (py:percent cells)."""
        kinds, kind = [], "code"
        for line in self.lines:
            cell = _CELL.match(line)
            if cell:
                header = cell.group(1)
                kind = "markdown" if re.search(r"\[(markdown|md|raw)\]", header) else "code"
            kinds.append(kind)
        return kinds

    # ------------------------------------------------------------------ running
    def run(self) -> Transformed:
        self.tree = self._parse()   # first: Python's parser gives the best syntax errors
        tokens = self._tokens()
        blocks, line_markers = self._blocks(self._markers(tokens))
        result = Transformed(self.text, self.text,
                             has_markers=bool(blocks or line_markers))
        if not result.has_markers:
            return result
        self.parents = {child: node for node in ast.walk(self.tree)
                        for child in ast.iter_child_nodes(node)}
        self.qualnames = _qualnames(self.tree)
        self.logical_ends = _logical_lines(tokens)
        self.logical_starts = set(self.logical_ends)
        self.cells = self._cell_kinds()
        self.statements = [n for n in ast.walk(self.tree) if isinstance(n, ast.stmt)]

        n = len(self.lines)
        student: list[list[str]] = [[line] for line in self.lines]
        solution: list[list[str]] = [[line] for line in self.lines]
        for b in blocks:
            self._check_cells(b)
            student[b.begin - 1] = solution[b.begin - 1] = []
            student[b.end - 1] = solution[b.end - 1] = []
            inside = range(b.begin + 1, b.end)  # 1-based lines between the markers
            if b.kind == "HIDDEN TESTS":
                for i in inside:
                    student[i - 1] = []
                    if self.lines[i - 1].strip():
                        result.hidden_test_lines.append((i, self.lines[i - 1].strip()))
            elif b.kind == "PROMPT":
                for i in inside:
                    solution[i - 1] = []
                    student[i - 1] = [self._uncomment(i)]
            else:
                stub = self._solution_stub(b, result, prompted=self._prompt_before(b, blocks))
                for i in inside:
                    student[i - 1] = []
                student[b.begin - 1] = stub
                repeated = {s.strip() for s in stub}
                result.solution_lines += [(i, self.lines[i - 1].strip()) for i in inside
                                          if self.lines[i - 1].strip()
                                          and self.lines[i - 1].strip() not in repeated]
        for m in line_markers:
            self._line_marker(m, student, solution, result)

        result.stubs.sort()
        result.student = self._join(student)
        result.solution = self._join(solution)
        self._compile(result.student, student, "student")
        self._compile(result.solution, solution, "solution")
        assert n == len(student)
        return result

    def _join(self, per_line: list[list[str]]) -> str:
        out = [line for group in per_line for line in group]
        return "\n".join(out) + ("\n" if self.text.endswith("\n") and out else "")

    def _compile(self, text: str, per_line: list[list[str]], version: str) -> None:
        try:
            compile(text, self.filename, "exec", dont_inherit=True)
        except SyntaxError as exc:
            origin = [i for i, group in enumerate(per_line, 1) for _ in group] or [1]
            at = min(max(exc.lineno or 1, 1), len(origin))
            raise self.error(origin[at - 1], f"the {version} version of this file does not "
                                             f"compile: {exc.msg}. A solution block may have "
                                             f"left an empty body (keep a statement outside "
                                             f"the markers, or drop NO PROMPT), or a PROMPT "
                                             f"line is not code (write prose as '# # text')"
                             ) from None

    def _check_cells(self, b: _Block) -> None:
        for i in range(b.begin + 1, b.end):
            if _CELL.match(self.lines[i - 1]):
                raise self.error(i, f"a notebook cell starts inside the {b.kind} block opened "
                                    f"at line {b.begin}: close the block in its own cell")

    def _uncomment(self, i: int) -> str:
        line = self.lines[i - 1]
        if self.cells[i - 1] == "markdown" or not line.strip():
            return line
        stripped = line.lstrip()
        if not stripped.startswith("#"):
            raise self.error(i, "a PROMPT block holds commented lines only (the student sees "
                                "them uncommented); comment this line out")
        indent = line[:len(line) - len(stripped)]
        body = stripped[1:]
        return (indent + (body[1:] if body.startswith(" ") else body)).rstrip()

    # -------------------------------------------------------- solution blocks
    def _prompt_before(self, b: _Block, blocks: list[_Block]) -> bool:
        """Whether a PROMPT block ends right before ``b`` (blank lines between are fine)."""
        for other in blocks:
            if other.kind == "PROMPT" and other.end < b.begin and not any(
                    self.lines[i - 1].strip() for i in range(other.end + 1, b.begin)):
                return True
        return False

    def _solution_stub(self, b: _Block, result: Transformed, prompted: bool) -> list[str]:
        """What the student sees in place of a SOLUTION block. In a function it is a
        ``raise NotImplementedError``; at module or class level, stubs of its definitions,
        unless a PROMPT block right before it already shows the student what to write."""
        if self.cells[b.begin - 1] == "markdown":
            return []
        inside = [s for s in self.statements if b.begin < s.lineno < b.end]
        for s in self.statements:
            start, head_end = s.lineno, self._header_end(s)
            if start < b.begin <= head_end or start < b.end <= head_end:
                which = "BEGIN" if start < b.begin <= head_end else "END"
                raise self.error(b.begin if which == "BEGIN" else b.end,
                                 f"the {which} SOLUTION marker cuts the statement at line "
                                 f"{start} in two: markers go between whole statements")
            if b.begin < start < b.end and s.end_lineno > b.end:
                raise self.error(b.end, f"the statement at line {start} starts inside the "
                                        f"solution block and ends after its END marker: move "
                                        f"the marker below line {s.end_lineno}")
        code_lines = [i for i in range(b.begin + 1, b.end) if i in self.logical_starts]
        if not code_lines:
            return []
        indent = _indent(self.lines[code_lines[0] - 1])
        for i in code_lines:
            if len(_indent(self.lines[i - 1]).expandtabs()) < len(indent.expandtabs()):
                raise self.error(i, f"this line is indented less than the first line of the "
                                    f"solution block (line {code_lines[0]}): the block must "
                                    f"hold whole statements of one body")
        if b.no_prompt:
            return []
        tops = [s for s in inside if self._stmt_parent(s) not in inside]
        scope = self._scope_of(tops[0]) if tops else None
        if isinstance(scope, _FUNCTIONS):
            name = self.qualnames[scope]
            result.stubs.append((b.begin, name))
            return [f'{indent}raise NotImplementedError("{name}")']
        if prompted:
            return []
        prefix = self.qualnames[scope] + "." if scope is not None else ""
        out = []
        for s in tops:
            out += self._stub_definition(s, prefix, indent, result)
        return out

    def _stmt_parent(self, node):
        node = self.parents.get(node)
        while node is not None and not isinstance(node, ast.stmt):
            node = self.parents.get(node)
        return node

    def _scope_of(self, node):
        """The innermost function or class whose body holds ``node`` (None: module)."""
        node = self.parents.get(node)
        while node is not None and not isinstance(node, (*_FUNCTIONS, ast.ClassDef)):
            node = self.parents.get(node)
        return node

    def _stub_definition(self, s: ast.stmt, prefix: str, indent: str,
                         result: Transformed) -> list[str]:
        """Stub lines for one module- or class-level statement of a solution block."""
        if isinstance(s, ast.Assign):
            names = [n.id for t in s.targets for n in ast.walk(t)
                     if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
            return [f"{indent}{name} = ..." for name in dict.fromkeys(names)]
        if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name):
            annotation = ast.get_source_segment(self.text, s.annotation) or ast.unparse(
                s.annotation)
            return [f"{indent}{s.target.id}: {annotation} = ..."]
        if not isinstance(s, (*_FUNCTIONS, ast.ClassDef)):
            return []
        header, body_indent = self._header_lines(s, indent)
        docstring = self._docstring_lines(s)
        if isinstance(s, _FUNCTIONS):
            name = prefix + s.name
            result.stubs.append((s.lineno, name))
            return header + docstring + [f'{body_indent}raise NotImplementedError("{name}")']
        body = []
        for child in s.body[1 if docstring else 0:]:
            body += self._stub_definition(child, prefix + s.name + ".", body_indent, result)
        if not body and not docstring:
            body = [f"{body_indent}pass"]
        return header + docstring + body

    def _header_end(self, s: ast.stmt) -> int:
        """Last line of a statement's header (a simple statement is all header)."""
        if not isinstance(getattr(s, "body", None), list):
            return s.end_lineno
        return self.logical_ends.get(s.lineno, s.lineno)

    def _header_lines(self, s, indent: str) -> tuple[list[str], str]:
        """The decorators and signature of a def/class, as written; and its body's indent."""
        start = min([d.lineno for d in s.decorator_list] + [s.lineno])
        first = s.body[0]
        if first.lineno > self._header_end(s):
            lines = self.lines[start - 1:first.lineno - 1]
            while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith("#")):
                lines.pop()
            return lines, _indent(self.lines[first.lineno - 1])
        # a one-line definition (def f(): return 1): rebuild the header from the tree
        empty = ast.parse(ast.unparse(s)).body[0]
        empty.body = [ast.Pass()]
        lines = [indent + line for line in ast.unparse(empty).splitlines()[:-1]]
        return lines, indent + "    "

    def _docstring_lines(self, s) -> list[str]:
        first = s.body[0]
        if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str) and first.lineno > self._header_end(s)):
            return self.lines[first.lineno - 1:first.end_lineno]
        return []

    # ----------------------------------------------------------- line markers
    def _line_marker(self, m: _Marker, student, solution, result: Transformed) -> None:
        if self.cells[m.line - 1] == "markdown":
            raise self.error(m.line, "'# SOLUTION' in a markdown cell: use a BEGIN/END "
                                     "SOLUTION block for written answers")
        simple = [s for s in self.statements if s.lineno <= m.line <= s.end_lineno
                  and not hasattr(s, "body")]
        if len(simple) != 1:
            raise self.error(m.line, "'# SOLUTION' must end a line holding exactly one simple "
                                     "statement (an assignment, return or call), not a "
                                     "compound statement header or several statements")
        s = simple[0]
        first, last = self.lines[s.lineno - 1], self.lines[s.end_lineno - 1]
        prefix = _byte_slice(first, 0, s.col_offset)
        suffix = _byte_slice(last, s.end_col_offset, None)
        if s.end_lineno == m.line:
            suffix = suffix[:m.col - len(_byte_slice(last, 0, s.end_col_offset))]
        suffix = suffix.rstrip()
        student[s.lineno - 1] = [prefix + _line_stub(s, self.text) + suffix]
        scope = self._scope_of(s)
        result.stubs.append((m.line, self.qualnames[scope] if scope is not None else
                             _line_stub(s, self.text).removesuffix(" = ...")))
        for i in range(s.lineno + 1, s.end_lineno + 1):
            student[i - 1] = []
        solution[m.line - 1] = [self.lines[m.line - 1][:m.col].rstrip()]
        stub_text = student[s.lineno - 1][0].strip()
        for i in range(s.lineno, s.end_lineno + 1):
            text = (self.lines[i - 1][:m.col] if i == m.line else self.lines[i - 1]).strip()
            if text and text != stub_text:
                result.solution_lines.append((i, text))


def _line_stub(s: ast.stmt, text: str) -> str:
    """The student's version of a ``# SOLUTION`` statement: its right-hand side is ``...``."""
    seg = lambda node: ast.get_source_segment(text, node) or ast.unparse(node)  # noqa: E731
    if isinstance(s, ast.Assign):
        return " = ".join(seg(t) for t in s.targets) + " = ..."
    if isinstance(s, ast.AugAssign):
        return f"{seg(s.target)} {_AUG_OPS[type(s.op)]}= ..."
    if isinstance(s, ast.AnnAssign):
        return f"{seg(s.target)}: {seg(s.annotation)} = ..."
    if isinstance(s, ast.Return):
        return "return ..."
    return "..."


_AUG_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.MatMult: "@", ast.Div: "/",
            ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**", ast.LShift: "<<",
            ast.RShift: ">>", ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&"}


def _byte_slice(line: str, start: int, stop: int | None) -> str:
    """ast columns count UTF-8 bytes; slice a str by them."""
    return line.encode()[start:stop].decode()


def _indent(line: str) -> str:
    return line[:len(line) - len(line.lstrip())]




def _qualnames(tree: ast.Module) -> dict[ast.AST, str]:
    """Python's ``__qualname__`` of every function and class in the tree."""
    names: dict[ast.AST, str] = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (*_FUNCTIONS, ast.ClassDef)):
                names[child] = prefix + child.name
                local = ".<locals>." if isinstance(child, _FUNCTIONS) else "."
                visit(child, names[child] + local)
            else:
                visit(child, prefix)

    visit(tree, "")
    return names


def _logical_lines(tokens) -> dict[int, int]:
    """First line -> last line of every logical line of code (not comments or blanks)."""
    lines, start = {}, None
    skip = {tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENCODING, tokenize.ENDMARKER}
    for tok in tokens:
        if tok.type == tokenize.NEWLINE:
            if start is not None:
                lines[start] = tok.start[0]
            start = None
        elif tok.type not in skip and start is None:
            start = tok.start[0]
    return lines
