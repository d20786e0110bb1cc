"""The strict request-cookie parser, the cleaned header and ctx.set_cookies."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headerware.cookies_parse import RequestCookies, parse_request_cookies
from headerware.memo import clear_all
from headerware.wsgi import WSGIContext
from tests.contract import make_environ

ORIG_KEY = "headerware.cookies.orig"


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


def test_set_cookies_rewrites_the_header_and_context() -> None:
    environ = make_environ(HTTP_COOKIE="a=1; junk; a=2; b=2")
    ctx = WSGIContext(environ)
    cleaned = ctx.cookies.rewrite({"b": None})
    ctx.set_cookies(cleaned)
    assert environ["HTTP_COOKIE"] == "a=1"
    assert environ[ORIG_KEY] == "a=1; junk; a=2; b=2"
    assert ctx.cookies is cleaned
    # A second rewrite keeps the client's original.
    ctx.set_cookies(ctx.cookies.rewrite({"a": None}))
    assert "HTTP_COOKIE" not in environ
    assert environ[ORIG_KEY] == "a=1; junk; a=2; b=2"


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


# -- the fast path, the parse cache and the spliced rewrite ----------------------------

from headerware import cookies_parse  # noqa: E402

_COOKIE_TEXT = st.text(alphabet='ab=; \t"\x00\x7f\xa0é,_-.', max_size=40)


@given(_COOKIE_TEXT)
def test_fast_path_agrees_with_the_general_parser(header: str) -> None:
    fast = cookies_parse._parse(header)
    general = cookies_parse._parse_pairs(header)
    assert fast.pairs == general.pairs
    assert fast.dropped == general.dropped
    assert fast.duplicates == general.duplicates
    assert dict(fast) == dict(general)
    assert fast.to_header() == general.to_header()


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", "sess_1"]), st.text('xy.=_-"', max_size=6)),
        min_size=1,
        max_size=4,
    ),
    st.dictionaries(st.sampled_from(["a", "b", "z"]), st.text("pq.=; ", max_size=5)),
)
def test_spliced_rewrite_equals_the_general_rewrite(
    pairs: list[tuple[str, str]], changes: dict[str, str]
) -> None:
    header = "; ".join(f"{name}={value}" for name, value in pairs)
    fast = cookies_parse._parse(header)
    general = cookies_parse._parse_pairs(header)
    new_fast, new_general = fast.rewrite(changes), general.rewrite(changes)
    assert new_fast.pairs == new_general.pairs
    assert new_fast.to_header() == new_general.to_header()
    assert new_fast.duplicates == new_general.duplicates
    # Chained rewrites keep agreeing (the spliced header stays exact).
    again = {name: value + "2" for name, value in changes.items()}
    assert fast.rewrite(changes).rewrite(again).to_header() == (
        general.rewrite(changes).rewrite(again).to_header()
    )


def test_splice_does_not_match_inside_another_value() -> None:
    cookies = parse_request_cookies("x=username=evil; username=real.sig; y=1")
    assert cookies.header is not None
    new = cookies.rewrite({"username": "real"})
    assert new.to_header() == "x=username=evil; username=real; y=1"
    assert dict(new) == {"x": "username=evil", "username": "real", "y": "1"}


def test_parses_are_shared_and_long_headers_still_parsed() -> None:
    clear_all()
    first = parse_request_cookies("a=1; b=2")
    assert parse_request_cookies("a=1; b=2") is first
    for index in range(2000):  # far more distinct headers than are remembered
        assert parse_request_cookies(f"c={index}")["c"] == str(index)
    assert dict(parse_request_cookies("a=1; b=2")) == {"a": "1", "b": "2"}
    long_header = "a=" + "x" * 10_000
    assert parse_request_cookies(long_header)["a"] == "x" * 10_000
    assert parse_request_cookies(long_header) is not parse_request_cookies(long_header)


def test_set_cookies_keeps_a_shared_parse_untouched() -> None:
    header = "a=1; b=2"
    shared = parse_request_cookies(header)
    ctx = WSGIContext(make_environ(HTTP_COOKIE=header))
    ctx.set_cookies(ctx.cookies.rewrite({"a": "one"}))
    assert ctx.environ["HTTP_COOKIE"] == "a=one; b=2"
    assert ctx.environ[ORIG_KEY] == header
    assert parse_request_cookies(header) is shared
    assert dict(shared) == {"a": "1", "b": "2"} and shared.to_header() == header
