"""Path patterns: exact, ``/x/*`` globs, most specific wins, normalised paths."""

from __future__ import annotations

import pytest

from headerware.paths import PathRules, normalize_path, request_path


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


def test_match_environ_uses_normalised_path_info() -> None:
    rules = PathRules({"/admin/*": "admin"})
    assert rules.match_environ({"PATH_INFO": "//admin/x"}) == "admin"
    assert rules.match_environ({"PATH_INFO": "/public/../admin/x"}) == "admin"
    # SCRIPT_NAME (a mount prefix) is not part of the matched path.
    assert rules.match_environ({"SCRIPT_NAME": "/app", "PATH_INFO": "/admin"}) == "admin"
    assert request_path({}) == "/"


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
    with pytest.raises(ValueError, match=r"^media_types:"):
        PathRules({"x": 1}, option="media_types")


def test_resolve_caches_raw_paths_boundedly() -> None:
    rules = PathRules({"/api/*": "api"})
    assert rules.resolve("//api/x") == ("/api/*", "api")
    assert rules.resolve("//api/x") == ("/api/*", "api")
    assert rules.resolve("/other") is None
    for index in range(5000):
        rules.resolve(f"/p{index}")
    assert len(rules._cache) <= 2048
    assert rules.resolve("/api") == ("/api/*", "api")
