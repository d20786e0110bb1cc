"""The ``headerware`` command: run, check-config, audit, keygen.

``headerware run APP [--config FILE] [--host 127.0.0.1] [--port 8000]``
    Serve any WSGI app (``module:attribute``) wrapped in the configured stack with
    werkzeug's development server; prints the stack and the URL. On a loopback
    address it is development mode (the development key may stand in for a missing
    ``HEADERWARE_SECRET_KEYS``, with one warning); on any other address the
    development key is refused, as in production.
``headerware check-config FILE [--json]``
    Validate a configuration and print the resulting stack in order, with every
    layer's effective options and the per-route variants; exit 1 with the error.
    The listing is itself a TOML configuration: each layer's table with its
    effective options, one ``[[routes]]`` table per route pattern with what it
    changes, and everything that is not an option value (the order, derived values,
    unset options, hidden secrets) in comments. It pastes back into a file; give
    the secrets again (``{ env = "HEADERWARE_SECRET_KEYS" }``).
``headerware audit (APP | URL) [--path P ...] [--config FILE] [--fail-under GRADE] [--json]``
    Grade headers and cookies the way the MDN HTTP Observatory does.
``headerware keygen [--count N]``
    Print N (default 1) new random secrets for ``HEADERWARE_SECRET_KEYS``.

Exit status: 0 on success, 1 on a configuration or audit failure, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from .cli_csp import add_csp_commands
from .config import ConfigError, StackFactory, check_value, layer_options, load_config
from .keys import ENV_VAR, deployment, generate_key

if TYPE_CHECKING:
    from .core.layer import Layer

__all__ = ["main", "render_stack", "toml_value"]

_EPILOG = """\
examples:
  headerware run examples.flask_app:flask_app --config examples/headerware.toml
      serve the Flask example behind headerware on http://127.0.0.1:8000/
  headerware check-config examples/headerware.toml
      validate a configuration and show the stack it builds
  headerware audit examples.flask_app:app --path / --path /page --fail-under A
      grade the wrapped app like the MDN HTTP Observatory (exit 1 below A)
  headerware audit http://127.0.0.1:8000/ --json
      grade a server running on this machine
  export HEADERWARE_SECRET_KEYS=$(headerware keygen)
      create a signing key (add older keys after a comma to rotate)

APP is a WSGI application as 'module:attribute' (like gunicorn), importable from the
current directory. FILE is a TOML configuration (see `pydoc headerware.config`).
"""


def _fallback(value: Any) -> Any:
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=repr) if isinstance(value, set | frozenset) else list(value)
    if isinstance(value, bytes):
        return "<bytes>"
    name = getattr(value, "__qualname__", None)
    if callable(value) and name:
        return f"<{getattr(value, '__module__', '?')}.{name}>"
    return repr(value)


def _shown(value: Any) -> str:
    """A value for a comment line (anything, readable)."""
    try:
        return json.dumps(value, ensure_ascii=False, default=_fallback)
    except (TypeError, ValueError):
        return repr(value)


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_string(key)


def _toml_string(text: str) -> str:
    # A JSON string is a TOML basic string, but for DEL, which TOML wants escaped.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _is_placeholder(value: Any) -> bool:
    """``"<2 key(s)>"``, ``"<callable f>"``: what ``describe()`` shows instead of a value."""
    return isinstance(value, str) and value.startswith("<") and value.endswith(">")


def toml_value(value: Any) -> str | None:
    """``value`` written as a TOML value, or ``None`` when TOML cannot say it
    (``None``, a callable, an object, a placeholder of a secret)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return None if _is_placeholder(value) else _toml_string(value)
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else list(value)
        parts = [toml_value(item) for item in items]
        if any(part is None for part in parts):
            return None
        return "[" + ", ".join(part for part in parts if part is not None) + "]"
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            return None
        entries = [(key, toml_value(item)) for key, item in value.items()]
        if any(text is None for _, text in entries):
            return None
        if not entries:
            return "{}"
        return "{ " + ", ".join(f"{_toml_key(key)} = {text}" for key, text in entries) + " }"
    return None


def _option_lines(layer: Layer, options: Mapping[str, Any]) -> list[str]:
    """``key = value`` lines that paste back into the layer's table; what is not an
    option value (derived, unset, hidden) as a comment."""
    schema = layer_options(type(layer))
    lines = []
    for key, value in options.items():
        option = schema.options.get(key)
        if option is None and not schema.open_ended:
            lines.append(f"# {key}: {_shown(value)}  (derived)")
            continue
        if value is None:
            lines.append(f"# {key}: not set")
            continue
        text = toml_value(value)
        if text is not None and option is not None:
            try:
                check_value(value, option.annotation, key)
            except ConfigError:
                text = None
        if text is None:
            reason = "hidden; give it again" if _is_placeholder(value) else "effective value"
            lines.append(f"# {key}: {_shown(value)}  ({reason})")
        else:
            lines.append(f"{_toml_key(key)} = {text}")
    return lines


def render_stack(
    layers: Sequence[Layer],
    routes: Sequence[tuple[str, Sequence[Layer]]] = (),
    *,
    title: str = "headerware stack",
) -> str:
    """The stack as a TOML configuration: each layer's table in order with its
    effective options, then one ``[[routes]]`` table per route pattern with what it
    changes. Information that is not an option value is in comments, so the output
    pastes back into a configuration file (secrets must be given again)."""
    lines = [f"# {title} (request hooks top to bottom, response hooks bottom to top):"]
    if not layers:
        lines.append("# (no layer)")
    for index, layer in enumerate(layers, 1):
        lines.append(f"# {index}. {layer.name}")
        lines.append(f"[{_toml_key(layer.name)}]")
        lines.extend(_option_lines(layer, layer.describe()))
        lines.append("")
    if routes:
        lines.append(
            "# routes (exact path > longer prefix > shorter; see headerware.routes);"
            " * options changed on this route, + added, - disabled"
        )
        base = {layer.name: layer for layer in layers}
        for pattern, variant in routes:
            names = {layer.name for layer in variant}
            marked = []
            for layer in variant:
                if layer.name not in base:
                    marked.append(f"+{layer.name}")
                elif base[layer.name] is not layer:
                    marked.append(f"{layer.name}*")
                else:
                    marked.append(layer.name)
            disabled = [name for name in base if name not in names]
            marked.extend(f"-{name}" for name in disabled)
            lines.append("[[routes]]")
            lines.append(f"path = {_toml_string(pattern)}")
            lines.append(f"# {pattern}: {', '.join(marked) or '(no layer)'}")
            for layer in variant:
                global_layer = base.get(layer.name)
                if global_layer is layer:
                    continue
                options = layer.describe()
                if global_layer is not None:  # only what this route changes
                    before = global_layer.describe()
                    options = {
                        k: v for k, v in options.items() if k not in before or before[k] != v
                    }
                lines.append(f"[routes.{_toml_key(layer.name)}]")
                lines.extend(_option_lines(layer, options))
            for name in disabled:
                lines.append(f"[routes.{_toml_key(name)}]")
                lines.append("enabled = false")
            lines.append("")
    return "\n".join(lines).rstrip("\n")


def _describe_json(factory: StackFactory) -> str:
    return json.dumps(factory.describe(), indent=2, ensure_ascii=False, default=_fallback)


def _fail(message: str, stream: TextIO) -> int:
    print(f"headerware: error: {message}", file=stream)
    return 1


def _config_failure(source: str | None, exc: ConfigError) -> str:
    """The error once: a file-level error already names the file."""
    if not exc.path or not source:
        return str(exc)
    return f"{source}: {exc}"


def _origin_fallback_notes(factory: StackFactory) -> list[str]:
    """CSRF's Origin fallback meeting ``Referrer-Policy: no-referrer`` (issue 12), for
    the whole stack and every route variant that runs CSRF."""
    from .layers.csrf import origin_fallback_warning

    notes: list[str] = []
    for variant in (factory.layers, *(layers for _, layers in factory.routes)):
        names = {layer.name: layer for layer in variant}
        if "csrf" not in names or "security_headers" not in names:
            continue
        policy = names["security_headers"].describe().get("referrer_policy")
        note = origin_fallback_warning(policy if isinstance(policy, str) else None)
        if note and note not in notes:
            notes.append(note)
    return notes


def _cmd_check_config(args: argparse.Namespace) -> int:
    try:
        with deployment(development=True):  # nothing is served: the dev key may stand in
            factory = load_config(args.file)
    except ConfigError as exc:
        return _fail(_config_failure(args.file, exc), sys.stderr)
    from .csp_promote import check_file

    for note in [*_origin_fallback_notes(factory), *check_file(args.file, args.db)]:
        print(f"headerware: warning: {note}", file=sys.stderr)
    if args.json:
        print(_describe_json(factory))
    else:
        print(render_stack(factory.layers, factory.routes, title=f"{args.file}: valid; stack"))
    return 0


def _key_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"{count} keys: give 1 or more (e.g. --count 2)")
    return count


def _cmd_keygen(args: argparse.Namespace) -> int:
    for _ in range(args.count):
        print(generate_key())
    if sys.stdout.isatty():
        print(
            f"# use: export {ENV_VAR}=<key>  (newest first, comma-separated for rotation)",
            file=sys.stderr,
        )
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from werkzeug.serving import run_simple

    from .deploy import wrap

    local = _is_loopback(args.host)
    if not local:
        print(
            f"headerware: warning: {args.host} is reachable from other machines; this is a "
            "development server, use gunicorn (see examples/gunicorn.conf.py) in production; "
            "the development key is refused",
            file=sys.stderr,
        )
    try:
        # Development mode only on loopback: nobody else can be served a forged cookie.
        stack = wrap(args.app, args.config, development=local)
    except ConfigError as exc:
        return _fail(_config_failure(args.config, exc), sys.stderr)
    except ValueError as exc:
        return _fail(str(exc), sys.stderr)
    source = args.config or "built-in defaults"
    print(render_stack(stack.layers, stack.routes, title=f"headerware stack from {source}"))
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"serving {args.app} on http://{host}:{args.port}/  (Ctrl+C to stop)", flush=True)
    try:
        run_simple(args.host, args.port, stack, threaded=True, use_reloader=False)
    except KeyboardInterrupt:  # pragma: no cover - interactive
        pass
    except OSError as exc:
        return _fail(f"cannot listen on {args.host}:{args.port} ({exc}); try --port", sys.stderr)
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _cmd_audit(args: argparse.Namespace) -> int:
    from . import audit

    paths = args.path or ["/"]
    if args.fail_under is not None and args.fail_under not in audit.GRADES:
        return _fail(
            f"--fail-under {args.fail_under!r} is not a grade; "
            f"use one of {', '.join(audit.GRADES)}",
            sys.stderr,
        )
    try:
        if args.target.startswith(("http://", "https://")):
            if args.config:
                return _fail("--config applies to an APP, not to a URL", sys.stderr)
            results = audit.audit_url(args.target, paths)
        else:
            from .deploy import load_app, wrap

            with deployment(development=True):  # in-process: nothing is served
                app: Any = (
                    wrap(args.target, args.config, development=True)
                    if args.config
                    else load_app(args.target)
                )
            results = audit.audit_app(app, paths, https=not args.http)
    except ConfigError as exc:
        return _fail(_config_failure(args.config, exc), sys.stderr)
    except (ValueError, OSError) as exc:
        return _fail(str(exc), sys.stderr)
    if args.json:
        print(json.dumps([result.to_json() for result in results], indent=2))
    else:
        print("\n\n".join(result.render_table() for result in results))
    if args.fail_under is not None:
        failing = [r for r in results if not audit.grade_at_least(r.grade, args.fail_under)]
        if failing:
            worst = ", ".join(f"{r.url} {r.grade}" for r in failing)
            print(f"headerware: audit below {args.fail_under}: {worst}", file=sys.stderr)
            return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="headerware",
        description="Security headers, CORS, cookies, sessions and CSRF for any WSGI app.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="serve a WSGI app wrapped in headerware (development server)",
        description="Serve APP wrapped in the configured stack with werkzeug's development "
        "server, printing the stack and the URL. Without --config: $HEADERWARE_CONFIG, "
        "else the built-in defaults (security headers, CSP, cookie policy).",
        epilog="example:\n  headerware run examples.flask_app:flask_app "
        "--config examples/headerware.toml --port 8000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("app", metavar="APP", help="the WSGI app as 'module:attribute'")
    run.add_argument("--config", metavar="FILE", help="TOML configuration file")
    run.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    run.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    run.set_defaults(handler=_cmd_run)

    check = commands.add_parser(
        "check-config",
        help="validate a configuration file and print the stack it builds",
        description="Validate FILE and print the stack in order with each layer's effective "
        "options and the per-route variants. Exit 1 with the key path on an error.",
        epilog="example:\n  headerware check-config examples/headerware.toml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("file", metavar="FILE", help="TOML configuration file")
    check.add_argument("--json", action="store_true", help="print the stack as JSON")
    check.add_argument("--db", metavar="PATH", help="CSP report store for the promote check")
    check.set_defaults(handler=_cmd_check_config)

    audit = commands.add_parser(
        "audit",
        help="grade headers and cookies like the MDN HTTP Observatory",
        description="Request each --path from APP (in-process, as HTTPS unless --http) or "
        "from URL (a server on this machine) and grade the responses with the MDN HTTP "
        "Observatory's scoring. Tests that need the public internet (redirection, HSTS "
        "preload, certificates) are reported as not evaluated.",
        epilog="examples:\n  headerware audit examples.flask_app:app --path / --path /page\n"
        "  headerware audit myapp:app --config headerware.toml --fail-under A+\n"
        "  headerware audit http://127.0.0.1:8000/ --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    audit.add_argument("target", metavar="APP|URL", help="'module:attribute' or http(s):// URL")
    audit.add_argument(
        "--path", action="append", metavar="PATH", help="path to grade (repeatable; default /)"
    )
    audit.add_argument("--config", metavar="FILE", help="wrap APP in this configuration first")
    audit.add_argument(
        "--http", action="store_true", help="in-process: send plain HTTP instead of HTTPS"
    )
    audit.add_argument(
        "--fail-under", metavar="GRADE", help="exit 1 when a path grades below GRADE (e.g. A)"
    )
    audit.add_argument("--json", action="store_true", help="print the results as JSON")
    audit.set_defaults(handler=_cmd_audit)

    keygen = commands.add_parser(
        "keygen",
        help=f"print a new random secret for {ENV_VAR}",
        description=f"Print a new random 256-bit secret, URL-safe, for {ENV_VAR}.",
        epilog=f"example:\n  export {ENV_VAR}=$(headerware keygen)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    keygen.add_argument("--count", type=_key_count, default=1, help="how many keys (default 1)")
    keygen.set_defaults(handler=_cmd_keygen)
    add_csp_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``headerware`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    result: int = handler(args)
    return result
