"""Per-route rules: patterns, precedence, variants precomputed, the Stack's selection.

Routes use the one path model (:mod:`headerware.paths`); these tests check the
route behaviour through :class:`~headerware.Stack` and the configuration.
"""

from __future__ import annotations

from typing import Any

import pytest
import webtest

from headerware import Context, Layer, ResponseHead, Stack
from headerware.config import StackFactory, stack_from_dict
from tests.contract import LayerContract, Recorder, consume, make_environ, text_app
from tests.hw_test_layers import TEST_LAYERS, Banner, Gate

TOKEN = "route-test-token-0123456789"


def conf(**tables: Any) -> dict[str, Any]:
    return {"headerware": {"layers": TEST_LAYERS, **tables.pop("headerware", {})}, **tables}


class Mark(Layer):
    name = "mark"

    def __init__(self, label: str, app: Any = None) -> None:
        super().__init__(app)
        self.label = label

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        response.add("X-Mark", self.label)


def call(stack: Any, path: str, **environ: Any) -> Recorder:
    recorder = Recorder()
    consume(stack(make_environ(PATH_INFO=path, **environ), recorder))
    return recorder


def marks(stack: Any, path: str, **environ: Any) -> list[str]:
    return call(stack, path, **environ).header_values("X-Mark")


def counting_app() -> tuple[Any, list[str]]:
    """A WSGI app recording the PATH_INFO of every request it serves."""
    seen: list[str] = []
    inner = text_app()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        seen.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    return app, seen


class TestPatterns:
    """``/x`` exact, ``/x/*`` /x and below, ``/x/`` below /x only, in a route table."""

    @pytest.fixture
    def stack(self) -> Stack:
        return Stack(
            [Mark("global")],
            text_app(),
            routes=[("/x", [Mark("exact")]), ("/y/*", [Mark("glob")]), ("/z/", [Mark("subtree")])],
        )

    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            pytest.param("/x", "exact", id="exact"),
            pytest.param("/x/", "global", id="exact-not-trailing-slash"),
            pytest.param("/x/a", "global", id="exact-not-below"),
            pytest.param("/y", "glob", id="glob-root"),
            pytest.param("/y/", "glob", id="glob-trailing-slash"),
            pytest.param("/y/a/b", "glob", id="glob-below"),
            pytest.param("/yz", "global", id="glob-segment-boundary"),
            pytest.param("/z", "global", id="subtree-without-root"),
            pytest.param("/z/", "subtree", id="subtree-trailing-slash"),
            pytest.param("/z/a/b", "subtree", id="subtree-below"),
            pytest.param("/Y/a", "global", id="case-sensitive"),
        ],
    )
    def test_pattern_kinds(self, stack: Stack, path: str, expected: str) -> None:
        assert marks(stack, path) == [expected]

    def test_all_three_on_one_prefix(self) -> None:
        factory = StackFactory(
            conf(
                banner={"text": "site"},
                routes=[
                    {"path": "/x", "banner": {"text": "exact"}},
                    {"path": "/x/*", "banner": {"text": "glob"}},
                    {"path": "/x/", "banner": {"text": "subtree"}},
                ],
            )
        )
        app = webtest.TestApp(factory(text_app()))
        assert app.get("/x").headers["X-Banner"] == "exact"
        assert app.get("/x/").headers["X-Banner"] == "subtree"
        assert app.get("/x/a").headers["X-Banner"] == "subtree"
        assert app.get("/xa").headers["X-Banner"] == "site"

    def test_subtree_route_does_not_apply_to_its_root(self) -> None:
        stack = stack_from_dict(
            conf(banner={"text": "site"}, routes=[{"path": "/docs/", "banner": {"text": "docs"}}]),
            text_app(),
        )
        app = webtest.TestApp(stack)
        assert app.get("/docs").headers["X-Banner"] == "site"
        assert app.get("/docs/").headers["X-Banner"] == "docs"
        assert app.get("/docs/page").headers["X-Banner"] == "docs"

    def test_glob_route_applies_to_its_root(self) -> None:
        stack = stack_from_dict(
            conf(banner={"text": "site"}, routes=[{"path": "/docs/*", "banner": {"text": "docs"}}]),
            text_app(),
        )
        app = webtest.TestApp(stack)
        assert app.get("/docs").headers["X-Banner"] == "docs"
        assert app.get("/docs/page").headers["X-Banner"] == "docs"
        assert app.get("/docsx").headers["X-Banner"] == "site"


class TestStackRoutes:
    def test_stack_selects_the_variant_by_path(self) -> None:
        a, b, c = Mark("a"), Mark("b"), Mark("c")
        stack = Stack([a], text_app(), routes=[("/api/*", [a, b]), ("/api/x", [c])])
        assert marks(stack, "/") == ["a"]
        assert marks(stack, "/api/y") == ["b", "a"]
        assert marks(stack, "/api/x") == ["c"]
        assert marks(stack, "//api//x") == ["c"]  # repeated slashes: the same route

    def test_precedence(self) -> None:
        stack = Stack(
            [],
            text_app(),
            routes=[
                ("/*", [Mark("all")]),
                ("/api/*", [Mark("api")]),
                ("/api/admin/*", [Mark("admin")]),
                ("/api/admin/", [Mark("admin-subtree")]),
                ("/api/x", [Mark("x")]),
            ],
        )
        assert marks(stack, "/api/x") == ["x"]
        assert marks(stack, "/api/admin") == ["admin"]
        assert marks(stack, "/api/admin/y") == ["admin-subtree"]
        assert marks(stack, "/api/y") == ["api"]
        assert marks(stack, "/other") == ["all"]

    def test_mount_prefix_is_not_part_of_the_path(self) -> None:
        stack = Stack([Mark("a")], text_app(), routes=[("/api/*", [Mark("b")])])
        assert marks(stack, "/api/1", SCRIPT_NAME="/mount") == ["b"]

    def test_layer_around_a_routed_stack_merges_into_every_variant(self) -> None:
        routed = Stack([Mark("base")], text_app(), routes=[("/api/*", [Mark("api")])])
        outer = Mark("outer", routed)
        assert marks(outer, "/") == ["base", "outer"]
        assert marks(outer, "/api") == ["api", "outer"]

    def test_routed_stack_around_plain_layers_appends_them_to_every_variant(self) -> None:
        inner = Stack([Mark("inner")], text_app())
        stack = Stack([Mark("a")], inner, routes=[("/x", [Mark("x")])])
        assert stack.app is inner.app
        assert marks(stack, "/x") == ["inner", "x"]
        assert marks(stack, "/y") == ["inner", "a"]

    def test_two_routed_stacks_nest_instead_of_losing_routes(self) -> None:
        inner = Stack([Mark("i")], text_app(), routes=[("/x", [Mark("ix")])])
        outer = Stack([Mark("o")], inner, routes=[("/y", [Mark("oy")])])
        assert outer.app is inner
        assert marks(outer, "/x") == ["ix", "o"]
        assert marks(outer, "/y") == ["i", "oy"]

    def test_routed_stack_cannot_be_flattened_into_a_list(self) -> None:
        routed = Stack([Mark("a")], None, routes=[("/x", [Mark("x")])])
        with pytest.raises(TypeError, match="routes would be lost"):
            Stack([routed], text_app())

    def test_duplicate_pattern_refused(self) -> None:
        with pytest.raises(ValueError, match="twice"):
            Stack([], text_app(), routes=[("/x", []), ("/x", [])])


class TestRawAndResolvedPaths:
    """A route applies only when the raw and the resolved path pick it."""

    def test_paths_picking_different_routes_are_refused(self) -> None:
        app, seen = counting_app()
        stack = Stack([Mark("g")], app, routes=[("/api/*", [Mark("api")]), ("/api/x", [Mark("x")])])
        recorder = call(stack, "/api/../api/x")  # raw: /api/*, resolved: /api/x
        assert recorder.status.startswith("400")
        assert recorder.header_values("X-Mark") == ["g"]  # answered by the global layers
        assert seen == []

    def test_a_route_only_one_path_picks_is_refused(self) -> None:
        app, seen = counting_app()
        stack = Stack([Mark("g")], app, routes=[("/public/*", [Mark("public")])])
        assert call(stack, "/admin/../public/x").status.startswith("400")
        assert call(stack, "/public/../admin").status.startswith("400")
        assert seen == []

    def test_dot_segments_within_one_route_are_served(self) -> None:
        stack = Stack([Mark("g")], text_app(), routes=[("/api/*", [Mark("api")])])
        assert marks(stack, "/api/a/../b") == ["api"]
        assert marks(stack, "/other/./x") == ["g"]

    @pytest.fixture
    def guarded(self) -> tuple[Any, list[str]]:
        app, seen = counting_app()
        stack = stack_from_dict(
            {
                "routes": [
                    {"path": "/admin/*", "bearer_auth": {"tokens": [TOKEN], "realm": "admin"}},
                    {"path": "/legacy/*", "report_only": True},
                ]
            },
            app,
        )
        return stack, seen

    def test_admin_route_needs_the_token(self, guarded: tuple[Any, list[str]]) -> None:
        stack, seen = guarded
        assert call(stack, "/admin/x").status.startswith("401")
        authorized = call(stack, "/admin/x", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert authorized.status.startswith("200")
        assert call(stack, "/legacy/x").status.startswith("200")
        assert seen == ["/admin/x", "/legacy/x"]

    def test_dot_segments_from_admin_into_legacy_are_refused(
        self, guarded: tuple[Any, list[str]]
    ) -> None:
        stack, seen = guarded
        # Raw: the admin route (an app routing on PATH_INFO may serve admin); resolved:
        # the legacy route (report-only, no auth). Neither is safe: 400, app not called.
        recorder = call(stack, "/admin/../legacy/x")
        assert recorder.status.startswith("400")
        assert not recorder.header_values("WWW-Authenticate")
        # Servers decode PATH_INFO: a literal "%2e%2e" is a segment, not "..".
        assert call(stack, "/admin/%2e%2e/legacy/x").status.startswith("401")
        assert seen == []


class TestConfigRoutes:
    def test_override_extend_disable(self) -> None:
        stack = stack_from_dict(
            conf(
                banner={"text": "site"},
                routes=[
                    {"path": "/api/*", "banner": {"text": "api"}, "gate": {}},
                    {"path": "/legacy/*", "banner": {"enabled": False}},
                ],
            ),
            text_app(),
        )
        app = webtest.TestApp(stack, lint=True)
        assert app.get("/").headers["X-Banner"] == "site"
        assert app.get("/", headers={"X-Block": "1"}).status_int == 200
        assert app.get("/api/v1").headers["X-Banner"] == "api"
        refused = app.get("/api/v1", headers={"X-Block": "1"}, expect_errors=True)
        assert refused.status_int == 403
        assert refused.headers["X-Banner"] == "api"
        legacy = app.get("/legacy/page")
        assert "X-Banner" not in legacy.headers
        assert legacy.body == b"hello"

    def test_routes_apply_from_least_to_most_specific(self) -> None:
        factory = StackFactory(
            conf(
                banner={"text": "site", "count": 1, "mode": "fancy"},
                routes=[
                    {"path": "/api/admin/", "banner": {"tags": ["subtree"]}},
                    {"path": "/api/admin/*", "banner": {"text": "admin"}},
                    {"path": "/api/*", "banner": {"count": 5, "text": "api"}},
                    {"path": "/*", "banner": {"count": 9, "text": "all", "mode": "plain"}},
                ],
            )
        )
        variants = dict(factory.routes)
        admin = variants["/api/admin/*"][0]
        assert isinstance(admin, Banner)
        assert (admin.text, admin.count, admin.mode, admin.tags) == ("admin", 5, "plain", [])
        subtree = variants["/api/admin/"][0]
        assert isinstance(subtree, Banner)
        assert (subtree.text, subtree.count, subtree.tags) == ("admin", 5, ["subtree"])

    def test_subtree_route_is_not_nested_in_by_its_root(self) -> None:
        # "/a" is not below "/a/": the exact route takes "/a/*" (which covers it) only.
        factory = StackFactory(
            conf(
                banner={},
                routes=[
                    {"path": "/a/", "banner": {"text": "subtree"}},
                    {"path": "/a/*", "banner": {"count": 3}},
                    {"path": "/a", "banner": {"tags": ["exact"]}},
                ],
            )
        )
        exact = dict(factory.routes)["/a"][0]
        assert isinstance(exact, Banner)
        assert (exact.text, exact.count, exact.tags) == ("hi", 3, ["exact"])

    def test_unchanged_layers_are_shared_with_the_global_stack(self) -> None:
        factory = StackFactory(
            conf(
                banner={},
                gate={},
                routes=[
                    {"path": "/a", "gate": {"status": 401}},
                    {"path": "/b", "gate": {"status": 401}},
                ],
            )
        )
        variants = dict(factory.routes)
        assert variants["/a"][0] is factory.layers[0]
        assert variants["/a"][1] is not factory.layers[1]
        assert variants["/a"][1] is variants["/b"][1]

    @pytest.mark.parametrize(
        ("data", "expected"),
        [
            pytest.param({"routes": [{"path": "/r", "report_only": True}]}, True, id="route"),
            pytest.param(
                {
                    "headerware": {"report_only": True},
                    "routes": [{"path": "/r", "report_only": False}],
                },
                False,
                id="route-beats-global",
            ),
            pytest.param(
                {"gate": {"report_only": True}, "routes": [{"path": "/r", "report_only": False}]},
                False,
                id="route-beats-global-layer",
            ),
            pytest.param(
                {"routes": [{"path": "/r", "report_only": True, "gate": {"report_only": False}}]},
                False,
                id="route-layer-beats-route",
            ),
            pytest.param(
                {"headerware": {"report_only": True}, "routes": [{"path": "/r"}]},
                True,
                id="global-inherited",
            ),
        ],
    )
    def test_report_only_precedence(self, data: dict[str, Any], expected: bool) -> None:
        data.setdefault("gate", {})
        factory = StackFactory(conf(**data))
        gate = dict(factory.routes)["/r"][0]
        assert isinstance(gate, Gate)
        assert gate.report_only is expected

    def test_describe_lists_routes(self) -> None:
        factory = StackFactory(
            conf(banner={}, routes=[{"path": ["/a", "/b/*", "/c/"], "banner": {"text": "r"}}])
        )
        described = factory.describe()
        assert [route["path"] for route in described["routes"]] == ["/a", "/b/*", "/c/"]
        assert described["routes"][1]["layers"][0]["options"]["text"] == "r"


class TestRoutedStackContract(LayerContract):
    """A routed stack keeps the PEP 3333 contract on a routed path."""

    def make_layer(self) -> Layer:
        return Mark("contract")

    def wrap(self, app: Any) -> Any:
        return Stack([Mark("base")], app, routes=[("/*", [self.make_layer()])])
