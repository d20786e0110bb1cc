"""Path patterns: exact, ``/x/*`` globs, most specific wins, normalised paths."""

from __future__ import annotations

import pytest

from headerware.options import OptionError
from headerware.paths import PathRules, PathSet, covers, normalize_path, raw_view


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("/", "/", id="root"),
        pytest.param("", "/", id="empty"),
        pytest.param("/api/x", "/api/x", id="already-normal"),
        pytest.param("//api//x", "/api/x", id="double-slashes"),
        pytest.param("/./api/./x", "/api/x", id="dot-segments"),
        pytest.param("/static/../api/x", "/api/x", id="dotdot"),
        pytest.param("/../../etc", "/etc", id="dotdot-above-root"),
        pytest.param("/api/", "/api/", id="trailing-slash-kept"),
        pytest.param("/api/x/../..", "/", id="dotdot-to-root"),
        pytest.param("/api/x/..", "/api/", id="dotdot-at-end"),
        pytest.param("/a/.hidden", "/a/.hidden", id="dotfile-not-a-segment"),
    ],
)
def test_normalize_path(path: str, expected: str) -> None:
    assert normalize_path(path) == expected


RULES = PathRules(
    {
        "/data": "data",
        "/api/*": "api",
        "/api/admin/*": "admin",
        "/api/admin/public": "admin-public",
        "/*": "everything",
    }
)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("/data", "data", id="exact"),
        pytest.param("/data/", "everything", id="exact-is-exact"),
        pytest.param("/api", "api", id="glob-includes-its-root"),
        pytest.param("/api/", "api", id="glob-slash"),
        pytest.param("/api/users/1", "api", id="glob-deep"),
        pytest.param("/apifoo", "everything", id="glob-segment-boundary"),
        pytest.param("/api/admin/x", "admin", id="longer-prefix-wins"),
        pytest.param("/api/admin/public", "admin-public", id="exact-beats-glob"),
        pytest.param("/API/users", "everything", id="case-sensitive"),
        pytest.param("/other", "everything", id="catch-all"),
    ],
)
def test_most_specific_wins(path: str, expected: str) -> None:
    assert RULES.match(path) == expected


def test_no_match_gives_default() -> None:
    rules = PathRules({"/api/*": 1})
    assert rules.match("/x") is None
    assert rules.match("/x", 0) == 0
    assert rules.lookup("/api/y") == ("/api/*", 1)
    assert rules.lookup("/x") is None
    assert not PathRules({})


def test_order_of_declaration_does_not_matter() -> None:
    forward = PathRules([("/a/*", 1), ("/a/b/*", 2)])
    backward = PathRules([("/a/b/*", 2), ("/a/*", 1)])
    for path in ("/a/b/c", "/a/c", "/a", "/a/b"):
        assert forward.match(path) == backward.match(path)


class Req:
    """A request as the path model sees it: the raw and the resolved path."""

    def __init__(self, raw: str) -> None:
        self.raw_path = raw
        self.path = normalize_path(raw)


SUBTREES = PathRules({"/x": "exact", "/x/": "subtree", "/x/y/*": "glob"})


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("/x", "exact", id="exact"),
        pytest.param("/x/", "subtree", id="subtree-root-slash"),
        pytest.param("/x/a", "subtree", id="subtree-child"),
        pytest.param("/x/y", "glob", id="glob-root"),
        pytest.param("/x/y/z", "glob", id="glob-child"),
        pytest.param("/xa", None, id="no-prefix-match"),
    ],
)
def test_subtree_without_its_root(path: str, expected: str | None) -> None:
    assert SUBTREES.match(path) == expected


def test_subtree_pattern_does_not_match_its_root() -> None:
    rules = PathRules({"/.well-known/": 1})
    assert rules.match("/.well-known") is None
    assert rules.match("/.well-known/acme") == 1
    both = PathRules({"/.well-known/*": 1})
    assert both.match("/.well-known") == 1


GUARDS = PathRules({"/admin/*": "admin", "/legacy/*": "legacy"})


@pytest.mark.parametrize(
    ("raw", "either", "agreed"),
    [
        pytest.param("/admin/x", "admin", "admin", id="plain"),
        pytest.param("//admin//x", "admin", "admin", id="slashes-merged-in-both"),
        pytest.param("/admin/../legacy/x", "legacy", None, id="dotdot-escapes-guard"),
        pytest.param("/legacy/../admin/x", "admin", None, id="dotdot-into-guard"),
        pytest.param("/public/../admin", "admin", None, id="resolved-only"),
        pytest.param("/other", None, None, id="no-rule"),
    ],
)
def test_guards_take_either_path_relaxations_need_both(
    raw: str, either: str | None, agreed: str | None
) -> None:
    request = Req(raw)
    found = GUARDS.either(request)
    assert (found and found[1]) == either
    laxer = GUARDS.agreed(request)
    assert (laxer and laxer[1]) == agreed


def test_either_sees_the_raw_path_when_resolution_leaves_the_guard() -> None:
    # raw /admin/../public matches /admin/*; resolved /public matches nothing.
    assert GUARDS.either(Req("/admin/../public")) == ("/admin/*", "admin")


@pytest.mark.parametrize(
    ("raw", "either", "both"),
    [
        pytest.param("/hooks/x", True, True, id="plain"),
        pytest.param("/hooks/../admin", True, False, id="raw-only"),
        pytest.param("/admin/../hooks/x", True, False, id="resolved-only"),
        pytest.param("/admin", False, False, id="neither"),
    ],
)
def test_path_set(raw: str, either: bool, both: bool) -> None:
    paths = PathSet(["/hooks/*"], option="exempt_paths")
    assert paths.either(Req(raw)) is either
    assert paths.both(Req(raw)) is both


@pytest.mark.parametrize(
    ("outer", "inner", "expected"),
    [
        ("/*", "/a/*", True),
        ("/a/*", "/a/b/*", True),
        ("/a/*", "/a", True),
        ("/a/*", "/a/", True),
        ("/a/", "/a/*", False),
        ("/a/", "/a/b/*", True),
        ("/a/", "/a", False),
        ("/a/b/*", "/a/*", False),
        ("/a", "/a/*", False),
        ("/a/*", "/ab/*", False),
    ],
)
def test_covers(outer: str, inner: str, expected: bool) -> None:
    assert covers(outer, inner) is expected


def test_raw_view_merges_slashes_only() -> None:
    assert raw_view("//a//../b") == "/a/../b"
    assert raw_view("") == "/"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        pytest.param("api/*", "must start with '/'", id="relative"),
        pytest.param("/api/*/x", "not a final", id="inner-star"),
        pytest.param("/api*", "not a final", id="star-without-slash"),
        pytest.param("/a b", "white space", id="space"),
        pytest.param("/a//b", "not a normalised path", id="not-normal"),
        pytest.param("/a/../b", "not a normalised path", id="dotdot"),
    ],
)
def test_bad_patterns_refused(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PathRules({pattern: 1}, option="rules")


def test_duplicate_patterns_refused() -> None:
    with pytest.raises(ValueError, match="listed twice"):
        PathRules([("/api/*", 1), ("/api/*", 2)])
    with pytest.raises(ValueError, match="listed twice"):
        PathRules([("*", 1), ("/*", 2)])


def test_error_names_the_option() -> None:
    with pytest.raises(OptionError, match=r"^media_types:") as caught:
        PathRules({"x": 1}, option="media_types")
    assert caught.value.option == "media_types"
    assert caught.value.value == "x"
