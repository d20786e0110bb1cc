"""The strict request-cookie parser, the cleaned header and apply_cookies."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headerware.cookies_parse import (
    ORIG_ENVIRON_KEY,
    RequestCookies,
    apply_cookies,
    parse_request_cookies,
)
from headerware.engine import Context
from tests.contract import make_environ


@pytest.mark.parametrize(
    ("header", "expected", "dropped"),
    [
        pytest.param("", {}, 0, id="empty"),
        pytest.param("a=1", {"a": "1"}, 0, id="one"),
        pytest.param("a=1; b=2", {"a": "1", "b": "2"}, 0, id="two"),
        pytest.param("a=1;b=2", {"a": "1", "b": "2"}, 0, id="no-space"),
        pytest.param(" \ta=1 ;\t b = 2 ", {"a": "1", "b": "2"}, 0, id="space-tab-trimmed"),
        pytest.param("a=", {"a": ""}, 0, id="empty-value"),
        pytest.param("a=x=y", {"a": "x=y"}, 0, id="equals-in-value"),
        pytest.param('a="quoted"', {"a": '"quoted"'}, 0, id="quoted-kept-raw"),
        pytest.param("a=1; junk; b=2", {"a": "1", "b": "2"}, 1, id="no-equals-dropped-alone"),
        pytest.param("=__Host-x; b=2", {"b": "2"}, 1, id="nameless-dropped"),
        pytest.param("=; b=2", {"b": "2"}, 1, id="empty-pair-dropped"),
        pytest.param("\xa0__Host-x=1; b=2", {"b": "2"}, 1, id="nbsp-not-trimmed"),
        pytest.param("__Host-x\xa0=1", {}, 1, id="trailing-nbsp-not-trimmed"),
        pytest.param("\u3000a=1; b=2", {"b": "2"}, 1, id="ideographic-space"),
        pytest.param("a b=1; c=2", {"c": "2"}, 1, id="space-in-name"),
        pytest.param("a(=1; c=2", {"c": "2"}, 1, id="separator-in-name"),
        pytest.param("a=\x01; c=2", {"c": "2"}, 1, id="control-in-value"),
        pytest.param("a=\x7f; c=2", {"c": "2"}, 1, id="del-in-value"),
        pytest.param("a=1;;; ;b=2", {"a": "1", "b": "2"}, 0, id="empty-parts-skipped"),
        pytest.param("a=1; a=2", {"a": "1"}, 0, id="duplicate-first-wins"),
        pytest.param("a=caf\xc3\xa9", {"a": "caf\xc3\xa9"}, 0, id="utf8-bytes-kept"),
    ],
)
def test_parse_table(header: str, expected: dict[str, str], dropped: int) -> None:
    cookies = parse_request_cookies(header)
    assert dict(cookies) == expected
    assert cookies.dropped == dropped


def test_duplicates_recorded_and_conflicts_detected() -> None:
    cookies = parse_request_cookies("a=1; b=x; a=2; b=x; c=3")
    assert cookies["a"] == "1"
    assert cookies.duplicates == {"a", "b"}
    assert cookies.conflicting("a")
    assert not cookies.conflicting("b"), "the same value twice is not a conflict"
    assert not cookies.conflicting("c")
    assert not cookies.is_clean
    assert parse_request_cookies("a=1; b=2").is_clean


def test_to_header_is_first_occurrence_in_order() -> None:
    cookies = parse_request_cookies("b=2; bad; a=1; b=3; \xa0c=4")
    assert cookies.to_header() == "b=2; a=1"
    assert cookies.pairs == [("b", "2"), ("a", "1"), ("b", "3")]


def test_rewrite_replaces_and_removes() -> None:
    cookies = parse_request_cookies("s=signed; x=1; s=other; d=gone; x=2")
    new = cookies.rewrite({"s": "plain", "d": None})
    assert new.to_header() == "s=plain; x=1"
    assert new.pairs == [("s", "plain"), ("x", "1"), ("x", "2")]
    assert new.duplicates == {"x"}
    assert dict(new) == {"s": "plain", "x": "1"}
    # The original is untouched.
    assert cookies["s"] == "signed"


def test_many_pairs_all_kept() -> None:
    header = "; ".join(f"c{index}=v{index}" for index in range(2000))
    cookies = parse_request_cookies(header)
    assert len(cookies) == 2000
    assert cookies["c1999"] == "v1999"


def test_apply_cookies_rewrites_environ_and_context() -> None:
    environ = make_environ(HTTP_COOKIE="a=1; junk; a=2; b=2")
    ctx = Context(environ)
    cleaned = ctx.cookies.rewrite({"b": None})
    apply_cookies(ctx, cleaned)
    assert environ["HTTP_COOKIE"] == "a=1"
    assert environ[ORIG_ENVIRON_KEY] == "a=1; junk; a=2; b=2"
    assert ctx.cookies is cleaned
    # A second rewrite keeps the client's original.
    apply_cookies(ctx, ctx.cookies.rewrite({"a": None}))
    assert "HTTP_COOKIE" not in environ
    assert environ[ORIG_ENVIRON_KEY] == "a=1; junk; a=2; b=2"


def test_request_cookies_mapping_api() -> None:
    cookies = RequestCookies([("a", "1")])
    assert list(cookies) == ["a"] and len(cookies) == 1 and "a" in cookies
    assert cookies.get("missing") is None
    assert "a" in repr(cookies) and "1" not in repr(cookies).replace("dropped=0", "")


@given(st.text(alphabet=st.characters(max_codepoint=0xFF), max_size=200))
def test_never_raises_and_cleaned_header_is_stable(header: str) -> None:
    cookies = parse_request_cookies(header)
    again = parse_request_cookies(cookies.to_header())
    assert dict(again) == dict(cookies)
    assert again.dropped == 0
    assert not again.duplicates
