"""Per-route rules: patterns, precedence, variants precomputed, engine selection."""

from __future__ import annotations

from typing import Any

import pytest
import webtest

from headerware.config import StackFactory, stack_from_dict
from headerware.engine import Layer, Stack
from headerware.routes import PathPattern, PathRouter
from tests.contract import LayerContract, Recorder, consume, make_environ, text_app
from tests.hw_test_layers import TEST_LAYERS, Banner, Gate

Headers = list[tuple[str, str]]


def conf(**tables: Any) -> dict[str, Any]:
    return {"headerware": {"layers": TEST_LAYERS, **tables.pop("headerware", {})}, **tables}


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        pytest.param("/data", "/data", True, id="exact"),
        pytest.param("/data", "/data/", False, id="exact-trailing-slash"),
        pytest.param("/api/*", "/api", True, id="glob-base"),
        pytest.param("/api/*", "/api/x/y", True, id="glob-below"),
        pytest.param("/api/*", "/apix", False, id="glob-segment-boundary"),
        pytest.param("/*", "/anything", True, id="all"),
        pytest.param("/API/*", "/api/x", False, id="case-sensitive"),
    ],
)
def test_pattern_matches(pattern: str, path: str, matches: bool) -> None:
    assert PathPattern(pattern).matches(path) is matches


@pytest.mark.parametrize(
    ("outer", "inner", "covers"),
    [
        pytest.param("/api/*", "/api/admin/*", True, id="glob-covers-longer-glob"),
        pytest.param("/api/*", "/api", True, id="glob-covers-its-base"),
        pytest.param("/api/admin/*", "/api/*", False, id="longer-does-not-cover-shorter"),
        pytest.param("/*", "/api/*", True, id="all-covers-glob"),
        pytest.param("/api/*", "/*", False, id="glob-does-not-cover-all"),
        pytest.param("/api", "/api", True, id="exact-covers-itself"),
        pytest.param("/api", "/api/*", False, id="exact-does-not-cover-glob"),
        pytest.param("/ap/*", "/api/*", False, id="not-a-segment-prefix"),
    ],
)
def test_pattern_covers(outer: str, inner: str, covers: bool) -> None:
    assert PathPattern(outer).covers(PathPattern(inner)) is covers


def test_router_precedence_and_normalisation() -> None:
    router = PathRouter(
        [("/*", "all"), ("/api/*", "api"), ("/api/admin/*", "admin"), ("/api/x", "x")]
    )
    assert router.match("/api/x") == "x"
    assert router.match("/api/admin/y") == "admin"
    assert router.match("/api/y") == "api"
    assert router.match("/other") == "all"
    assert router.match("/public/../api/admin/z") == "admin"
    assert router.match("//api//admin/z") == "admin"


class Mark(Layer):
    name = "mark"

    def __init__(self, label: str, app: Any = None) -> None:
        super().__init__(app)
        self.label = label

    def on_response(self, ctx: Any, status: str, headers: Headers) -> None:
        headers.append(("X-Mark", self.label))


def marks(stack: Any, path: str, **environ: Any) -> list[str]:
    recorder = Recorder()
    consume(stack(make_environ(PATH_INFO=path, **environ), recorder))
    return recorder.header_values("X-Mark")


class TestEngineRoutes:
    def test_stack_selects_the_variant_by_path(self) -> None:
        a, b, c = Mark("a"), Mark("b"), Mark("c")
        stack = Stack([a], text_app(), routes=[("/api/*", [a, b]), ("/api/x", [c])])
        assert marks(stack, "/") == ["a"]
        assert marks(stack, "/api/y") == ["b", "a"]
        assert marks(stack, "/api/x") == ["c"]
        assert marks(stack, "/api//../api/x") == ["c"]

    def test_mount_prefix_is_not_part_of_the_path(self) -> None:
        stack = Stack([Mark("a")], text_app(), routes=[("/api/*", [Mark("b")])])
        assert marks(stack, "/api/1", SCRIPT_NAME="/mount") == ["b"]

    def test_layer_around_a_routed_stack_merges_into_every_variant(self) -> None:
        routed = Stack([Mark("base")], text_app(), routes=[("/api/*", [Mark("api")])])
        outer = Mark("outer", routed)
        assert outer._stack is not None
        assert outer._stack.app is routed.app
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
                banner={"text": "site", "count": 1},
                routes=[
                    {"path": "/api/admin/*", "banner": {"text": "admin"}},
                    {"path": "/api/*", "banner": {"count": 5, "text": "api"}},
                ],
            )
        )
        variants = dict(factory.routes)
        admin = variants["/api/admin/*"][0]
        assert isinstance(admin, Banner)
        assert (admin.text, admin.count) == ("admin", 5)

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
            conf(banner={}, routes=[{"path": ["/a", "/b/*"], "banner": {"text": "r"}}])
        )
        described = factory.describe()
        assert [route["path"] for route in described["routes"]] == ["/a", "/b/*"]
        assert described["routes"][1]["layers"][0]["options"]["text"] == "r"


class TestRoutedStackContract(LayerContract):
    """A routed stack keeps the PEP 3333 contract on a routed path."""

    def make_layer(self) -> Layer:
        return Mark("contract")

    def wrap(self, app: Any) -> Any:
        return Stack([Mark("base")], app, routes=[("/*", [self.make_layer()])])
