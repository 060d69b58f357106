"""The cell boundary: what a %%smpc cell cannot reach, refused with its line and construct, and
what it can still do. The first cases are the security audit's reproductions."""

import numpy as np
import pytest

from smpc_magic.engine import public_functions
from smpc_magic.engine.cell_policy import PublicFunction, check_column_attributes
from smpc_magic.engine.sandbox import analyse, public_digest, run_in_sandbox
from smpc_magic.errors import CellBoundaryError, CellError
from smpc_magic.secret.frames import SecretFrame
from tests.support.inmemory import InMemoryParties
from tests.support.numeric import ULP

pytestmark = pytest.mark.timeout(60)

AUDIT_ESCAPES = [  # (cell, the construct named, its line)
    ("y = ().__class__.__mro__[1].__subclasses__()", ".__subclasses__", 1),
    ("y = smpc.is_secret.__globals__['__builtins__']['__import__']('os')", ".__globals__", 1),
    ("a = 1\ny = np.ctypeslib.ctypes.CDLL(None)", ".ctypes", 2),
    ("total = x.sum()\nleak = x._ctx.suite.open_values(x._ctx, [x._share], 'reveal')[0]", "._ctx", 2),
    ("key = x._ctx.channel", "._ctx", 1),
    ("y = '{0.__class__}'.format(x)", ".format", 1),
    ("y = getattr(x, '_share')", "getattr", 1),
    ("y = type(x)", "type", 1),
    ("y = vars(x)", "vars", 1),
    ("import os", "import", 1),
    ("a = 1\nfrom numpy import ctypeslib", "import", 2),
    ("class A:\n    pass", "class definitions", 1),
    ("x.shape = (1,)", ".shape =", 1),
    ("_x = 1", "_x", 1),
    ("y = np.load('rows.npy')", "np.load", 1),
    ("y = numpy.random.normal()", "numpy.random", 1),
    ("y = np.linalg.lapack_lite", "np.linalg.lapack_lite", 1),
    ("def g():\n    yield x", "generators (yield)", 2),
    ("with x as y:\n    pass", "with statements", 1),
    ("y = 1\nglobal y", "global/nonlocal", 2),
    # a caught check would be a yes/no oracle on any secret: no try in cells at all
    ("a = 1\ntry:\n    smpc.stats.mean(x)\nexcept ArithmeticError:\n    a = 2", "try/except", 2),
    ("try:\n    a = 1\nfinally:\n    a = 2", "try/except", 1),
]


@pytest.mark.parametrize("code, construct, line", AUDIT_ESCAPES)
def test_escapes_are_refused_before_anything_runs_naming_line_and_construct(code, construct, line):
    with pytest.raises(CellBoundaryError) as info:
        analyse(code)
    assert info.value.construct.startswith(construct)
    assert info.value.line == line
    assert str(info.value).startswith(f"line {line}:")


@pytest.fixture(scope="module")
def parties():
    return InMemoryParties(3)


def run_cell(parties, code, value, name="y"):
    return parties.compute(lambda x: run_in_sandbox(code, {"x": x})[name], value)


def test_an_ordinary_cell_runs_inside_the_boundary(parties):
    code = (
        "scaled = [2, 3]\n"
        "total = 0\n"
        "for k in scaled:\n"
        "    total += k\n"
        "def centre(v):\n"
        "    return v - v.mean()\n"
        "c = centre(x)\n"
        "y = np.sum(c * c) / (x.shape[0] - 1) + smpc.sum(x) * 0 + total + np.linalg.det(np.eye(2))\n"
    )
    x = np.array([1.0, 2.0, 4.0, 9.0])
    np.testing.assert_allclose(run_cell(parties, code, x), x.var(ddof=1) + 5 + 1, atol=100 * ULP)


def test_attributes_outside_the_allow_list_are_refused_at_run_time_with_their_line(parties):
    code = "f = smpc.sum\nz = 1\ny = f.unknown_name"
    with pytest.raises(CellBoundaryError) as info:
        run_cell(parties, code, np.ones(2))
    assert info.value.line == 3 and info.value.construct == ".unknown_name"
    assert "function" in str(info.value)


def test_classes_expose_no_attributes_even_allowed_names(parties):
    with pytest.raises(CellBoundaryError, match="of a type"):
        run_cell(parties, "t = np.float64\ny = t.real", np.ones(2))


def test_print_cannot_write_to_an_object(parties):
    with pytest.raises(CellBoundaryError, match="print"):
        run_cell(parties, "y = x\nprint(1, file=x)", np.ones(2))


def test_frame_columns_read_as_attributes_are_checked_against_declared_columns():
    names = analyse("m = df.age.mean()")
    check_column_attributes(names.policy, {"age", "bmi"})
    with pytest.raises(CellBoundaryError, match=r"'\.age'"):
        check_column_attributes(names.policy, {"bmi"})


def test_a_frame_column_attribute_works_at_run_time(parties):
    got = parties.compute(
        lambda x: run_in_sandbox("y = df.age.sum()", {"df": SecretFrame({"age": x})})["y"], np.array([3.0, 4.0])
    )
    np.testing.assert_allclose(got, 7.0, atol=ULP)


# ----- public functions -----------------------------------------------------------------------
LOCAL_PLAINTEXT = np.array([42.0])


def uses_a_notebook_global(v):
    return v + LOCAL_PLAINTEXT


def uses_a_public_value(v):
    return v * k  # noqa: F821 - k is a --public value of the cell it runs in


def test_a_public_function_cannot_read_notebook_globals():
    with pytest.raises(CellError, match="LOCAL_PLAINTEXT"):
        public_functions.prepare({"uses_a_notebook_global": uses_a_notebook_global})


def test_closures_lambdas_and_non_functions_cannot_be_public():
    offset = 3.0

    def closure(v):
        return v + offset

    for value in (closure, lambda v: v, np.exp, dict):
        with pytest.raises(CellError, match="--public"):
            public_functions.prepare({"f": value})


def test_public_function_digest_covers_the_public_values_it_reads():
    one = public_functions.prepare({"uses_a_public_value": uses_a_public_value, "k": 1.0})
    two = public_functions.prepare({"uses_a_public_value": uses_a_public_value, "k": 2.0})
    assert public_digest(one, "s") != public_digest(two, "s")
    assert public_digest(one, "s") == public_digest(dict(one), "s")
    assert public_digest(one, "s") != public_digest(one, "t")  # salted


def test_a_public_function_runs_recompiled_with_the_cell_globals_only(parties):
    public = public_functions.prepare({"uses_a_public_value": uses_a_public_value, "k": 3.0})
    got = parties.compute(lambda x: run_in_sandbox("y = uses_a_public_value(x)", {"x": x, **public})["y"], [1.0, 2.0])
    np.testing.assert_allclose(got, [3.0, 6.0], atol=ULP)


def test_a_public_function_is_held_to_the_cell_language():
    with pytest.raises(CellBoundaryError, match="_share"):
        public_functions.parse("f", "def f(v):\n    return v._share\n")
    assert isinstance(public_functions.parse("f", "def f(v):\n    return v\n"), PublicFunction)
