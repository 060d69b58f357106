"""Session files: every malformed value is a SessionFileError naming the file, the key and the
fix; no raw TypeError/ValueError/KeyError escapes, and no NaN or infinite wait is accepted."""

import re

import pytest

from kernel_bridge.errors import SessionFileError
from kernel_bridge.session import load_session, new_session
from smpc_magic import errors


def _session_line(key, value):
    """Replace (or add) ``key = value`` in the [session] table."""

    def edit(text):
        pattern = re.compile(rf"^{key} = .*$", re.MULTILINE)
        if pattern.search(text):
            return pattern.sub(lambda _: f"{key} = {value}", text, count=1)
        return text.replace("[session]\n", f"[session]\n{key} = {value}\n", 1)

    return edit


BAD_VALUES = [
    ("timeout", "nan"),
    ("timeout", "inf"),
    ("timeout", "-inf"),
    ("timeout", "-5"),
    ("timeout", "0"),
    ("timeout", '"60"'),
    ("timeout", "true"),
    ("timeout", "[60]"),
    ("timeout", "{ seconds = 60 }"),
    ("timeout", "1e300"),
    ("join_timeout", "nan"),
    ("join_timeout", "inf"),
    ("join_timeout", "-1.0"),
    ("join_timeout", '"soon"'),
    ("cell_cpu_seconds", "nan"),
    ("cell_cpu_seconds", "inf"),
    ("cell_cpu_seconds", "-2"),
    ("cell_cpu_seconds", "0.0"),
    ("cell_cpu_seconds", "[1]"),
    ("frac_bits", "16.5"),
    ("frac_bits", "nan"),
    ("frac_bits", '"16"'),
    ("frac_bits", "0"),
    ("frac_bits", "31"),
    ("frac_bits", "-16"),
    ("frac_bits", "true"),
    ("frac_bits", "[16]"),
    ("threshold", "0"),
    ("threshold", "1.5"),
    ("threshold", "inf"),
    ("threshold", '"1"'),
    ("threshold", "true"),
    ("threshold", "99"),
    ("verify", "[1]"),
    ("verify", '"maybe"'),
    ("verify", "{ a = 1 }"),
    ("protocol", "3"),
    ("protocol", "[]"),
    ("id", "5"),
    ("id", '""'),
    ("id", "{ a = 1 }"),
    ("id", '"a b"'),
    ("schema", "7"),
    ("schema", '""'),
]


@pytest.mark.parametrize("key, value", BAD_VALUES, ids=[f"{k}={v}" for k, v in BAD_VALUES])
def test_a_bad_session_value_names_the_file_the_key_and_the_fix(tmp_path, key, value):
    path = new_session(["a", "b"], tmp_path)
    path.write_text(_session_line(key, value)(path.read_text()))
    with pytest.raises(SessionFileError) as caught:
        load_session(path)
    message = str(caught.value)
    assert str(path) in message and key in message
    assert type(caught.value) is SessionFileError  # not a raw TypeError/ValueError/KeyError


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("timeout", "12", 12.0),
        ("timeout", "0.5", 0.5),
        ("join_timeout", "900", 900.0),
        ("cell_cpu_seconds", "2.5", 2.5),
        ("cell_cpu_seconds", "3600", 3600.0),
        ("frac_bits", "30", 30),
    ],
)
def test_good_values_of_either_number_type_are_read(tmp_path, key, value, expected):
    path = new_session(["a", "b"], tmp_path)
    path.write_text(_session_line(key, value)(path.read_text()))
    assert getattr(load_session(path), key) == expected


def test_the_cell_cpu_limit_has_a_generous_default_and_is_written_by_session_new(tmp_path):
    path = new_session(["a", "b"], tmp_path, cell_cpu_seconds=7.5)
    assert "cell_cpu_seconds = 7.5" in path.read_text() and load_session(path).cell_cpu_seconds == 7.5
    text = re.sub(r"^cell_cpu_seconds = .*\n", "", path.read_text(), flags=re.MULTILINE)
    path.write_text(text)
    assert load_session(path).cell_cpu_seconds == 600.0


def test_session_new_refuses_a_value_it_could_not_read_back(tmp_path):
    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(SessionFileError, match="cell_cpu_seconds"):
            new_session(["a", "b"], tmp_path / "s", cell_cpu_seconds=bad)
        with pytest.raises(SessionFileError, match="timeout"):
            new_session(["a", "b"], tmp_path / "t", timeout=bad)


def _first_party_line(key, value, rename=None):
    """Set ``key = value`` in the first [[party]] table (named ``rename`` instead, if given)."""

    def edit(text):
        head, tail = text.split("[[party]]\n", 1)
        line = f"{rename or key} = {value}"
        return head + "[[party]]\n" + re.sub(rf"^{key} = .*$", line, tail, count=1, flags=re.MULTILINE)

    return edit


TABLE_SHAPES = [
    ("session is not a table", lambda t: "session = 5\n" + t.replace("[session]\n", "[other]\n", 1), "session"),
    (
        "party is one table",
        lambda t: t.replace("[[party]]", "[party.x]", 1).replace("[[party]]", "[party.y]"),
        "[[party]]",
    ),
    ("party is a number", lambda t: "party = 3\n" + t.replace("[[party]]", "[[site]]"), "[[party]]"),
    ("party is a list of numbers", lambda t: "party = [1, 2]\n" + t.replace("[[party]]", "[[site]]"), "[[party]]"),
    ("dealer is a list", lambda t: t.replace("[dealer]", "[[dealer]]", 1), "[dealer]"),
    ("dealer is a string", lambda t: 'dealer = "d"\n' + t.replace("[dealer]", "[other_dealer]", 1), "dealer"),
    ("a party lacks its key", _first_party_line("public_key", '"x"', rename="publickey"), "public_key"),
    ("a name is a number", _first_party_line("name", "7"), "name"),
    ("an address is a number", _first_party_line("address", "7"), "address"),
    ("a port is not a number", _first_party_line("address", '"tcp://127.0.0.1:http"'), "address"),
    ("a port is out of range", _first_party_line("address", '"tcp://127.0.0.1:70000"'), "address"),
    ("a port is zero", _first_party_line("address", '"tcp://127.0.0.1:0"'), "address"),
    ("an address without host", _first_party_line("address", '"tcp://:5555"'), "address"),
    ("a key is not Z85", _first_party_line("public_key", '"' + " " * 40 + '"'), "public_key"),
    ("a key is a number", _first_party_line("public_key", "12"), "public_key"),
]


@pytest.mark.parametrize("edit, key", [(e, k) for _, e, k in TABLE_SHAPES], ids=[w for w, _, _ in TABLE_SHAPES])
def test_wrong_table_shapes_are_refused_naming_the_key(tmp_path, edit, key):
    path = new_session(["a", "b"], tmp_path)
    path.write_text(edit(path.read_text()))
    with pytest.raises(SessionFileError) as caught:
        load_session(path)
    assert str(path) in str(caught.value) and key in str(caught.value)
    assert type(caught.value) is SessionFileError


def test_two_endpoints_at_one_address_are_refused(tmp_path):
    path = new_session(["a", "b"], tmp_path)
    config = load_session(path)
    text = path.read_text().replace(config.parties[1].address, config.parties[0].address)
    path.write_text(text)
    with pytest.raises(SessionFileError, match="own address"):
        load_session(path)


def test_smpc_magic_knows_the_session_file_error():
    assert errors.SessionFileError is SessionFileError and "SessionFileError" in errors.__all__
    assert issubclass(SessionFileError, errors.BridgeError)
