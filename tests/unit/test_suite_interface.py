"""The engine is protocol-agnostic: the suite interface is abstract, the registry names what is
installed, and the same secret-array programs give the same results on a second, deliberately
minimal suite (plaintext, int64 shares, no dealer) as on the additive one."""

import inspect

import numpy as np
import pytest

from smpc_magic.protocols.base import ProtocolSuite
from smpc_magic.protocols.registry import UnknownProtocolError, available, get_suite
from smpc_magic.secret import lib as smpc
from tests.support.inmemory import InMemoryParties
from tests.support.numeric import ULP, fixed
from tests.support.plaintext_suite import PlaintextSuite

pytestmark = pytest.mark.timeout(120)


def test_the_suite_interface_is_abstract_with_no_default_implementation():
    with pytest.raises(TypeError):
        ProtocolSuite()  # type: ignore[abstract]
    abstract = ProtocolSuite.__abstractmethods__
    for name in ("mul", "open", "ltz", "div_public", "input_sharing", "rendezvous_state", "preprocessing_plan"):
        assert name in abstract

    class Forgetful(PlaintextSuite):
        pass

    del_target = {k: v for k, v in vars(PlaintextSuite).items() if k != "mul"}
    Partial = type("Partial", (ProtocolSuite,), del_target)  # everything but multiplication
    with pytest.raises(TypeError, match="mul"):
        Partial()
    assert Forgetful().name == "plaintext"
    for name in abstract:  # every abstract method documents what it must do
        assert inspect.getdoc(getattr(ProtocolSuite, name)), name


def test_registry_names_what_is_installed():
    assert {"additive", "shamir"} <= set(available())
    assert get_suite("additive").needs_dealer and not get_suite("shamir").needs_dealer
    with pytest.raises(UnknownProtocolError, match="unknown protocol 'spdz2k'; available: 'additive', 'shamir'"):
        get_suite("spdz2k")


X = np.array([[1.5, -2.25, 3.0], [4.0, 0.5, -1.0], [2.0, 8.0, 0.25], [-3.0, 1.0, 6.5]])
Y = np.array([[0.5, 2.0, -1.5], [1.0, -0.5, 2.0], [3.0, 0.25, 1.0], [-2.0, 1.5, 0.75]])
PROGRAMS = {
    "linear": (lambda a, b: (2 * a - b) / 4 + 0.5 * a - (3 - b), lambda a, b: (2 * a - b) / 4 + 0.5 * a - (3 - b)),
    "products": (lambda a, b: np.concatenate([(a * b).ravel(), (a @ b.T).ravel()]), lambda a, b: np.r_[(a * b).ravel(), (a @ b.T).ravel()]),
    "gram": (lambda a, b: a.T @ a, lambda a, b: a.T @ a),
    "reductions": (lambda a, b: np.concatenate([a.sum(axis=0), b.mean(axis=1)]), lambda a, b: np.r_[a.sum(0), b.mean(1)]),
    "comparisons": (lambda a, b: (a < b) + 2 * (a >= 1.0) + smpc.where(a > b, a, b), lambda a, b: (a < b) + 2 * (a >= 1.0) + np.where(a > b, a, b)),
    "max": (lambda a, b: smpc.max(a, axis=0) + smpc.argmin(b, axis=1).sum(), lambda a, b: a.max(0) + b.argmin(1).sum()),
    "reciprocal": (lambda a, b: smpc.reciprocal(a * a + 1), lambda a, b: 1 / (a * a + 1)),
    "sqrt_exp_log": (lambda a, b: np.sqrt(a * a + 1) + np.exp(b) + np.log(a * a + 2), lambda a, b: np.sqrt(a * a + 1) + np.exp(b) + np.log(a * a + 2)),
    "sigmoid": (lambda a, b: smpc.sigmoid(a) + smpc.softmax(b, axis=1), None),
}  # fmt: skip


@pytest.mark.parametrize("program", sorted(PROGRAMS))
@pytest.mark.parametrize("suite", ["additive", "shamir"])
def test_same_programs_give_the_same_results_on_every_suite(program, suite):
    secure, plain = PROGRAMS[program]
    additive = InMemoryParties(3, suite=suite).compute(secure, X, Y)
    reference = InMemoryParties(3, suite=PlaintextSuite()).compute(secure, X, Y)
    assert reference.dtype == additive.dtype and reference.shape == additive.shape
    np.testing.assert_allclose(additive, reference, rtol=1e-3, atol=8 * ULP)
    if plain is not None:
        np.testing.assert_allclose(additive, plain(fixed(X), fixed(Y)), rtol=1e-3, atol=8 * ULP)


def test_the_reference_suite_really_is_a_different_representation():
    parties = InMemoryParties(2, suite=PlaintextSuite())
    shares, _ = parties.share(np.array([1.0, 2.0]))
    assert shares[0].dtype == np.int64 and not shares[1].any()  # party 0 holds it all


def test_a_session_with_a_protocol_not_installed_is_refused_by_the_engine(tmp_path):
    from kernel_bridge.session import new_session
    from smpc_magic.engine.party import Party

    path = new_session(["a", "b"], tmp_path)
    path.write_text(path.read_text().replace('protocol = "additive"', 'protocol = "spdz2k"'))
    with pytest.raises(UnknownProtocolError, match="unknown protocol 'spdz2k'"):
        Party(path, "a")


def test_a_shamir_session_checks_its_settings_before_anything_runs(tmp_path):
    from kernel_bridge.session import load_session
    from smpc_magic.engine.party import Party
    from smpc_magic.engine.sessions import new_local_session
    from smpc_magic.errors import SmpcError

    path = new_local_session(["a", "b", "c", "d"], tmp_path, protocol="shamir", verify="correct")
    config = load_session(path)
    assert config.dealer is None and config.verify == "correct" and config.threshold is None
    assert 'verify = "correct"' in path.read_text()
    with pytest.raises(SmpcError, match="at least 3 sites"):
        new_local_session(["a", "b"], tmp_path / "two", protocol="shamir")
    with pytest.raises(SmpcError, match='"correct" needs n - t > 2t'):
        new_local_session(["a", "b", "c"], tmp_path / "three", protocol="shamir", verify="correct")
    with pytest.raises(SmpcError, match="has no setting threshold"):
        new_local_session(["a", "b"], tmp_path / "add", threshold=1)
    path.write_text(path.read_text().replace('verify = "correct"', "threshold = 2"))
    with pytest.raises(SmpcError, match="threshold 2 does not work with 4 sites"):
        Party(path, "a")
