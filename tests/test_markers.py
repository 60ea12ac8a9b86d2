"""Solution markers: student and solution versions of one instructor source.

Expected texts are written out by hand from the format's rules (edu_nn/grading/markers.py).
Every generated student and solution version must compile and, where it runs, behave: the
solution like the source, the stub by raising NotImplementedError with the qualified name.
"""
from __future__ import annotations

import textwrap

import pytest

from edu_nn.grading.markers import MarkerError, find_marker_strings, transform


def src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def run(code: str) -> dict:
    namespace: dict = {}
    exec(compile(code, "<test>", "exec"), namespace)
    return namespace


# ------------------------------------------------------------- solution blocks
METHOD = src('''
    class Mul:
        @staticmethod
        def backward(ctx, grad):
            x, y = ctx
            # BEGIN SOLUTION
            gx = grad * y
            gy = grad * x
            # END SOLUTION
            return gx, gy
''')


def test_block_in_a_method_becomes_raise_with_qualified_name():
    t = transform(METHOD, "ops.py")
    assert t.student == src('''
        class Mul:
            @staticmethod
            def backward(ctx, grad):
                x, y = ctx
                raise NotImplementedError("Mul.backward")
                return gx, gy
    ''')
    assert t.solution == METHOD.replace("        # BEGIN SOLUTION\n", "").replace(
        "        # END SOLUTION\n", "")
    assert t.stubs == [(5, "Mul.backward")]
    assert t.solution_lines == [(6, "gx = grad * y"), (7, "gy = grad * x")]
    assert run(t.solution)["Mul"].backward((2.0, 3.0), 10.0) == (30.0, 20.0)
    with pytest.raises(NotImplementedError, match=r"^Mul\.backward$"):
        run(t.student)["Mul"].backward((2.0, 3.0), 10.0)


def test_nested_function_gets_python_qualname_and_inner_indentation():
    text = src('''
        class Net:
            def forward(self, x):
                def inner(q):
                    if q > 0:
                        # BEGIN SOLUTION
                        r = q * 2 + 1
                        return r
                        # END SOLUTION
                    return 0
                return inner(x)
    ''')
    t = transform(text)
    assert '                raise NotImplementedError("Net.forward.<locals>.inner")\n' in t.student
    net = run(t.student)["Net"]()
    assert net.forward(-1) == 0              # the code outside the block still runs
    with pytest.raises(NotImplementedError):
        net.forward(1)
    assert run(t.solution)["Net"]().forward(3) == 7


def test_async_function_and_tabs():
    text = "async def f(x):\n\t# BEGIN SOLUTION\n\treturn x\n\t# END SOLUTION\n"
    assert transform(text).student == 'async def f(x):\n\traise NotImplementedError("f")\n'


def test_module_level_block_stubs_its_definitions():
    text = src('''
        """Module docstring."""
        import numpy as np

        # BEGIN SOLUTION
        import math
        SCALE = 2.0
        A, B = 1, 2
        LIMIT: int = 5
        print("side effect")


        @staticmethod
        def helper(x,
                   y=3):
            """Add."""
            return x + y * SCALE
        class Layer(object):
            """A layer."""
            size = 3
            def forward(self, x): return x * self.size
        # END SOLUTION
        KEEP = 1
    ''')
    t = transform(text, "m.py")
    assert t.student == src('''
        """Module docstring."""
        import numpy as np

        SCALE = ...
        A = ...
        B = ...
        LIMIT: int = ...
        @staticmethod
        def helper(x,
                   y=3):
            """Add."""
            raise NotImplementedError("helper")
        class Layer(object):
            """A layer."""
            size = ...
            def forward(self, x):
                raise NotImplementedError("Layer.forward")
        KEEP = 1
    ''')
    assert [name for _, name in t.stubs] == ["helper", "Layer.forward"]
    # the stub repeats the signature and docstring: they are not secret; the bodies are
    secret = [text for _, text in t.solution_lines]
    assert "return x + y * SCALE" in secret and 'print("side effect")' in secret
    assert '"""Add."""' not in secret and "y=3):" not in secret
    assert run(t.solution)["helper"](1) == 7


def test_class_level_block_stubs_methods_with_class_qualname():
    text = src('''
        class Outer:
            class Inner:
                # BEGIN SOLUTION
                def go(self):
                    return 1
                # END SOLUTION
                def stay(self):
                    return 2
    ''')
    t = transform(text)
    assert 'raise NotImplementedError("Outer.Inner.go")' in t.student
    inner = run(t.student)["Outer"].Inner()
    assert inner.stay() == 2
    with pytest.raises(NotImplementedError, match="Outer.Inner.go"):
        inner.go()


def test_no_prompt_block_is_dropped_without_stub():
    text = "def f(x):\n    y = x\n    # BEGIN SOLUTION NO PROMPT\n    y = 2 * x\n" \
           "    # END SOLUTION\n    return y\n"
    t = transform(text)
    assert t.student == "def f(x):\n    y = x\n    return y\n"
    assert run(t.solution)["f"](2) == 4 and t.stubs == []


def test_prompt_before_module_block_replaces_its_stub():
    text = src('''
        # BEGIN PROMPT
        # lr = ...  # pick a learning rate
        # END PROMPT
        # BEGIN SOLUTION
        lr = 0.1
        # END SOLUTION
    ''')
    t = transform(text)
    assert t.student == "lr = ...  # pick a learning rate\n"
    assert t.solution == "lr = 0.1\n"


# ----------------------------------------------------------- other markers
def test_solution_line_marker_replaces_right_hand_side():
    text = src('''
        def f(a, b):
            x = a @ b  # SOLUTION
            x += compute(a,
                         b)  # SOLUTION
            y: float = 2.0 * x  # SOLUTION
            first, second = a  # SOLUTION
            if a: z = 1  # SOLUTION
            print(x)  # SOLUTION
            return x * y  # SOLUTION
    ''')
    t = transform(text)
    assert t.student == src('''
        def f(a, b):
            x = ...
            x += ...
            y: float = ...
            first, second = ...
            if a: z = ...
            ...
            return ...
    ''')
    assert t.solution == text.replace("  # SOLUTION", "")
    secret = [text for _, text in t.solution_lines]
    assert secret[:3] == ["x = a @ b", "x += compute(a,", "b)"]


def test_prompt_is_uncommented_for_students_and_removed_from_solution():
    text = src('''
        def f(x):
            # BEGIN PROMPT
            # y = ...  # compute y
            # if x > 0:
            #     y = ...  # indented code keeps its extra indentation
            #
            # END PROMPT
            # BEGIN SOLUTION
            y = x + 1
            # END SOLUTION
            return y
    ''')
    t = transform(text)
    assert t.student == src('''
        def f(x):
            y = ...  # compute y
            if x > 0:
                y = ...  # indented code keeps its extra indentation

            raise NotImplementedError("f")
            return y
    ''')
    assert t.solution == "def f(x):\n    y = x + 1\n    return y\n"


def test_hidden_tests_block_is_cut_from_student_and_kept_in_solution():
    text = src('''
        import numpy as np

        def test_public():
            assert True

        # BEGIN HIDDEN TESTS
        def test_secret_shapes():
            assert np.zeros((7, 3)).shape == (7, 3)
        # END HIDDEN TESTS
    ''')
    t = transform(text)
    assert t.student == "import numpy as np\n\ndef test_public():\n    assert True\n\n"
    assert "def test_secret_shapes():" in t.solution and "HIDDEN" not in t.solution
    assert t.hidden_test_lines[0] == (7, "def test_secret_shapes():")


def test_nbgrader_spelling_and_file_without_markers():
    text = "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n"
    assert transform(text).student == 'def f():\n    raise NotImplementedError("f")\n'
    plain = "x = 1  # a comment\n"
    t = transform(plain)
    assert (t.student, t.solution, t.has_markers) == (plain, plain, False)


def test_marker_text_inside_a_string_is_not_a_marker():
    text = 's = """\n# BEGIN SOLUTION\nx = 1  # SOLUTION\n"""\n'
    t = transform(text)
    assert t.student == text and not t.has_markers
    # ... but the leak scan of student files still sees it
    assert [i for i, _ in find_marker_strings(text)] == [2, 3]


# ----------------------------------------------------------------- notebooks
NOTEBOOK = src('''
    # ---
    # jupyter:
    #   jupytext:
    #     formats: py:percent
    # ---

    # %% [markdown]
    # # Gradients
    # Why does the gradient flow backwards?
    # BEGIN SOLUTION
    # Because of the chain rule.
    # END SOLUTION
    # BEGIN PROMPT
    # *Your answer here.*
    # END PROMPT

    # %%
    import numpy as np
    # BEGIN SOLUTION
    w = np.ones(3) * 2
    # END SOLUTION

    # %%
    def loss(x):
        return float((x ** 2).sum())  # SOLUTION
''')


def test_py_percent_notebook_cells():
    t = transform(NOTEBOOK, "nb.py")
    assert t.student == src('''
        # ---
        # jupyter:
        #   jupytext:
        #     formats: py:percent
        # ---

        # %% [markdown]
        # # Gradients
        # Why does the gradient flow backwards?
        # *Your answer here.*

        # %%
        import numpy as np
        w = ...

        # %%
        def loss(x):
            return ...
    ''')
    assert "# Because of the chain rule." in t.solution
    assert "*Your answer here.*" not in t.solution
    assert (11, "# Because of the chain rule.") in t.solution_lines


def test_block_across_notebook_cells_is_an_error():
    text = "# %%\n# BEGIN SOLUTION\nx = 1\n# %%\ny = 2\n# END SOLUTION\n"
    with pytest.raises(MarkerError, match=r"^nb\.py:4: a notebook cell starts inside"):
        transform(text, "nb.py")


# -------------------------------------------------------------------- errors
@pytest.mark.parametrize("text, line, message", [
    ("# BEGIN SOLUTION\nx = 1\n# BEGIN SOLUTION\n# END SOLUTION\n", 3, "do not nest"),
    ("# BEGIN PROMPT\n# x\n# BEGIN SOLUTION\n", 3, "do not nest"),
    ("# BEGIN SOLUTION\nx = 1  # SOLUTION\n# END SOLUTION\n", 2, "do not nest"),
    ("x = 0\n# BEGIN SOLUTION\nx = 1\n", 2, "never closed"),
    ("# BEGIN HIDDEN TESTS\ndef test_a(): pass\n", 1, "never closed"),
    ("x = 1\n# END SOLUTION\n", 2, "without a matching"),
    ("# BEGIN PROMPT\n# x\n# END SOLUTION\n", 3, "expected '# END PROMPT'"),
    ("x = 1  # BEGIN SOLUTION\n", 1, "alone on its line"),
    ("# begin solution\n", 1, "looks like a marker"),
    ("# BEGIN SOLUTIONS\n", 1, "looks like a marker"),
    ("# BEGIN HIDDEN TEST\n", 1, "looks like a marker"),
    ("# SOLUTION\nx = 1\n", 1, "marks the line of code it ends"),
    ("for i in x:  # SOLUTION\n    pass\n", 1, "exactly one simple statement"),
    ("a = 1; b = 2  # SOLUTION\n", 1, "exactly one simple statement"),
    ("# BEGIN PROMPT\nx = 1\n# END PROMPT\n", 2, "commented lines only"),
    ("def f():\n    x = (1,\n    # BEGIN SOLUTION\n    2)\n    # END SOLUTION\n", 3,
     "cuts the statement at line 2"),
    ("def f():\n    if a:\n        # BEGIN SOLUTION\n        x = 1\n    y = 2\n"
     "        # END SOLUTION\n", 5, "indented less"),
    ("if x:\n    # BEGIN SOLUTION NO PROMPT\n    y = 1\n    # END SOLUTION\n", 1,
     "student version of this file does not compile"),
    ("# BEGIN SOLUTION\nx = (\n# END SOLUTION\n", 2, "'(' was never closed"),
    ("# BEGIN SOLUTION\ndef f(:\n    pass\n# END SOLUTION\n", 2, "syntax error"),
])
def test_marker_errors_name_file_and_line(text, line, message):
    with pytest.raises(MarkerError) as info:
        transform(text, "hw/ops.py")
    assert str(info.value).startswith(f"hw/ops.py:{line}: "), str(info.value)
    assert message in str(info.value)
    assert info.value.lineno == line and info.value.filename == "hw/ops.py"


def test_every_generated_version_compiles():
    """transform compiles both versions itself; check it on all the sources above."""
    for text in (METHOD, NOTEBOOK):
        t = transform(text)
        compile(t.student, "s", "exec")
        compile(t.solution, "s", "exec")
        assert not find_marker_strings(t.student) and not find_marker_strings(t.solution)
