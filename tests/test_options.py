"""The shared option validators and the structured OptionError."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from headerware import options
from headerware.options import OptionError


@pytest.mark.parametrize(
    ("check", "value", "expected"),
    [
        pytest.param(lambda v: options.boolean("flag", v), True, True, id="boolean"),
        pytest.param(lambda v: options.positive_int("n", v), 3, 3, id="positive-int"),
        pytest.param(lambda v: options.non_negative_int("n", v), 0, 0, id="non-negative"),
        pytest.param(lambda v: options.seconds("age", v, minimum=60), 60, 60, id="seconds"),
        pytest.param(lambda v: options.choice("mode", v, ["a", "b"]), "b", "b", id="choice"),
        pytest.param(lambda v: options.text("name", v), "x", "x", id="text"),
        pytest.param(lambda v: options.string_list("l", v), ["a"], ("a",), id="list"),
        pytest.param(
            lambda v: options.wait_seconds("t", v, maximum=30), 0.5, 0.5, id="wait-seconds"
        ),
    ],
)
def test_valid_values_pass(check: Any, value: object, expected: object) -> None:
    assert check(value) == expected


@pytest.mark.parametrize(
    ("check", "value", "option"),
    [
        pytest.param(lambda v: options.boolean("flag", v), "false", "flag", id="bool-string"),
        pytest.param(lambda v: options.positive_int("n", v), 0, "n", id="zero"),
        pytest.param(lambda v: options.positive_int("n", v), True, "n", id="bool-as-int"),
        pytest.param(lambda v: options.seconds("age", v, minimum=60), 59, "age", id="short"),
        pytest.param(lambda v: options.choice("mode", v, ["a"]), "A", "mode", id="case"),
        pytest.param(lambda v: options.text("name", v), "", "name", id="empty"),
        pytest.param(lambda v: options.string_list("l", v), "a,b", "l", id="bare-string"),
        pytest.param(lambda v: options.string_list("l", v), [1], "l", id="not-strings"),
        pytest.param(lambda v: options.wait_seconds("t", v, maximum=30), 31, "t", id="long"),
        pytest.param(lambda v: options.wait_seconds("t", v, maximum=30), 0, "t", id="no-wait"),
    ],
)
def test_bad_values_name_the_option(check: Any, value: object, option: str) -> None:
    with pytest.raises(OptionError) as caught:
        check(value)
    assert caught.value.option == option
    assert caught.value.value == value
    assert str(caught.value).startswith(f"{option}: ")


def test_within_prefixes_the_key_path_and_the_error_pickles() -> None:
    error = OptionError("hsts_max_age", -1, "-1 must be >= 0", "e.g. 31536000")
    nested = error.within("security_headers")
    assert nested.option == "security_headers.hsts_max_age"
    assert str(nested) == "security_headers.hsts_max_age: -1 must be >= 0; e.g. 31536000"
    assert error.within("") is error
    copy = pickle.loads(pickle.dumps(nested))
    assert (copy.option, copy.value, copy.fix) == (nested.option, -1, "e.g. 31536000")
