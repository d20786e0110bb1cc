"""The README's "Writing a layer" section: its layer works as middleware, in a Stack
and from TOML, and the README shows exactly the code in ``examples/request_id.py``."""

from __future__ import annotations

import re
import wsgiref.validate
from pathlib import Path
from typing import Any

import pytest
import webtest

from examples.request_id import RequestId
from headerware import CORS, OptionError, Stack, stack_from_dict
from tests.contract import LayerContract

ROOT = Path(__file__).resolve().parent.parent


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = environ["example.request_id"].encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _check(test_app: webtest.TestApp, header: str = "X-Request-Id") -> None:
    first = test_app.get("/")
    second = test_app.get("/")
    assert re.fullmatch(r"[0-9a-f]{16}", first.headers[header])
    assert first.text == first.headers[header], "the app read the published id"
    assert first.headers[header] != second.headers[header]


def test_as_middleware() -> None:
    _check(webtest.TestApp(wsgiref.validate.validator(RequestId(wsgiref.validate.validator(app)))))


def test_in_a_stack_with_built_in_layers() -> None:
    stack = Stack([CORS(allow_origins=["https://app.example.com"]), RequestId()], app)
    test_app = webtest.TestApp(stack)
    _check(test_app)
    answer = test_app.get("/", headers={"Origin": "https://app.example.com"})
    assert answer.headers["Access-Control-Allow-Origin"] == "https://app.example.com"


def test_from_toml_configuration() -> None:
    config = {
        "headerware": {"layers": {"request_id": "examples.request_id:RequestId"}},
        "request_id": {"header": "X-Trace"},
    }
    _check(webtest.TestApp(stack_from_dict(config, app)), header="X-Trace")


def test_bad_option_fails_at_start_up() -> None:
    with pytest.raises(OptionError) as caught:
        RequestId(header="X Trace")
    assert caught.value.option == "header"


def test_readme_shows_the_example_file() -> None:
    readme = (ROOT / "README.md").read_text()
    source = (ROOT / "examples" / "request_id.py").read_text()
    assert f"```python\n{source}```" in readme


class TestRequestIdContract(LayerContract):
    def make_layer(self) -> RequestId:
        return RequestId()
