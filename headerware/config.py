"""Configuration: a dict or a TOML file -> a validated :class:`~headerware.stack.Stack`.

Python (``Stack([SecurityHeaders(), CORS(...)], app)``), a plain dict and a TOML file
build the same stack through one schema: the keyword options of each layer's
``__init__``, typed by its annotations. A TOML file::

    [headerware]
    report_only = false            # true: every enforcing layer only logs (roll-out)
    # order = ["security_headers", "cors"]   # optional; default: the canonical order

    [security_headers]             # a table per layer turns it on; {} = its defaults

    [cors]
    allow_origins = ["https://app.example.com"]
    allow_credentials = true

    [signed_cookies]
    secret_keys = { env = "HEADERWARE_SECRET_KEYS" }   # secrets come from the environment

    [[routes]]                     # per-route rules, see headerware.routes
    path = "/api/*"
    [routes.csp]
    enabled = false

The same data as a dict: ``stack_from_dict({"cors": {"allow_origins": [...]}}, app)``.

Layers run in the canonical order of :mod:`headerware.registry` (proxy first,
response_headers last; the module says why) unless ``[headerware] order`` lists every
layer used. ``[headerware] layers = { name = "module:Class" }`` adds your own layers.

Validation happens at start-up, before the first request, and every error is a
:class:`ConfigError` whose :attr:`~ConfigError.path` is the key path, with the value
and the fix in the message: an unknown key (with a did-you-mean), a wrong type
(checked against the layer's annotations: ``str``, ``int``, ``float``, ``bool``,
lists, tuples, sets, dicts, ``Optional``, unions, ``Literal``, classes), and the
layer's own checks for unsafe combinations. A layer reports those as an
:class:`~headerware.options.OptionError` naming its option; the key path is the
layer's table plus that option (``security_headers.hsts_max_age``,
``routes[0].cors.allow_origins``). A plain ``ValueError`` of a custom layer is
reported at the layer's table (``my_layer: ...``). Each layer table may say
``enabled = false`` to keep its settings but turn it off.

Environment variables
    A value written ``{ env = "NAME" }`` is read from the environment variable
    ``NAME`` at start-up, and converted to the option's type the way PasteDeploy
    strings are (lists are comma-separated, booleans ``true``/``false``, ...).
    ``{ env = "NAME", default = "..." }`` gives a fallback; without one, an unset
    variable is a start-up error naming it. Secrets never need to be in the file.

Objects
    An option typed as a class (a session store) takes a table naming a factory and
    its keyword arguments, called at start-up:
    ``store = { use = "headerware.stores.sqlite:SQLiteStore", path = "sessions.db" }``.
    An option typed as a callable takes ``"module:function"``.

Report-only
    ``[headerware] report_only = true`` passes ``report_only=True`` to every layer
    whose ``__init__`` takes a ``report_only`` option (the enforcing ones); a layer's
    own ``report_only`` and the routes' settings take precedence (see
    :mod:`headerware.routes`).

Routes
    ``[[routes]]`` give path patterns their own settings: override a layer's
    options, add a layer, disable one, or make them report-only. The patterns,
    the precedence of nested routes and the handling of raw versus resolved paths
    are documented in :mod:`headerware.routes`.
"""

from __future__ import annotations

import collections.abc
import difflib
import inspect
import json
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

from . import registry
from .core.layer import Layer
from .options import OptionError
from .paths import check_pattern, covers, pattern_key
from .stack import Stack

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from .asgi import ASGIApp, ASGIStack

__all__ = [
    "ConfigError",
    "StackFactory",
    "convert_string",
    "layer_options",
    "load_config",
    "stack_from_dict",
    "stack_from_toml",
]

_GLOBAL_KEYS = ("report_only", "order", "layers")
_ROUTE_KEYS = ("path", "report_only")
_MISSING: Any = inspect.Parameter.empty


class ConfigError(OptionError):
    """A configuration mistake: :attr:`path` is the key path (``cors.allow_origins[2]``).

    An :class:`~headerware.options.OptionError` whose ``option`` is the full key path
    (``""`` for the file as a whole); ``message`` is the text after the path.
    """

    def __init__(self, path: str, message: str, *, value: object = None, fix: str = "") -> None:
        #: The key path of the mistake (``security_headers.hsts_max_age``).
        self.path = path
        super().__init__(path, value, message, fix)
        #: What is wrong and how to fix it, without the key path.
        self.message = f"{message}; {fix}" if fix else message

    def _message(self) -> str:
        text = f"{self.problem}; {self.fix}" if self.fix else self.problem
        return f"{self.option}: {text}" if self.option else text

    @classmethod
    def of_layer(cls, error: ValueError, path: str) -> ConfigError:
        """A layer's construction error at key path ``path`` (its table).

        An :class:`OptionError` names the option (``path.option``); any other
        ``ValueError`` (a custom layer's) is reported at the table itself.
        """
        if isinstance(error, OptionError):
            option = error.option
            full = f"{path}.{option}" if path and option else (path or option)
            return cls(full, error.problem, value=error.value, fix=error.fix)
        return cls(path, str(error))

    def __reduce__(self) -> tuple[Any, ...]:
        return (_config_error, (self.path, self.problem, self.value, self.fix))


def _config_error(path: str, message: str, value: object, fix: str) -> ConfigError:
    return ConfigError(path, message, value=value, fix=fix)


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    if choices:
        return f"; known: {', '.join(sorted(choices))}"
    return ""


_UNEXPECTED_KEYWORD = re.compile(r"unexpected keyword argument '([^']+)'")


def _keyword_hint(error: TypeError, target: Any) -> str:
    """A did-you-mean for ``f(typo=...)``: Python's TypeError names only the typo."""
    match = _UNEXPECTED_KEYWORD.search(str(error))
    if match is None:
        return ""
    try:
        parameters = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return ""
    names = [name for name in parameters if name not in ("self", "app")]
    return _did_you_mean(match.group(1), names)


#: ``secure`` is spelled the same for every layer: "auto" (HTTPS requests only),
#: "always" or true, "never" or false.
_SECURE_WORDS: dict[str, bool | None] = {
    "auto": None,
    "always": True,
    "never": False,
    "true": True,
    "false": False,
}
_SECURE_TEXT = {None: "auto", True: "always", False: "never"}


def coerce_secure(value: Any, annotation: Any) -> Any:
    """A ``secure`` value in the spelling the layer's annotation takes.

    ``"auto" | "always" | "never" | true | false`` are accepted for every layer: a
    layer typed ``str`` (``cookie_policy``) gets the word, one typed ``bool | None``
    (``sessions``) gets ``None``/``True``/``False``. Anything else is left for the
    type check to refuse.
    """
    if isinstance(value, bool):
        mode: bool | None = value
    elif isinstance(value, str) and value.strip().lower() in _SECURE_WORDS:
        mode = _SECURE_WORDS[value.strip().lower()]
    else:
        return value
    args = typing.get_args(annotation)
    if annotation is str or (typing.get_origin(annotation) is Literal and "auto" in args):
        return _SECURE_TEXT[mode]
    if annotation is bool and mode is not None:
        return mode
    if typing.get_origin(annotation) in (Union, types.UnionType) and bool in args:
        if mode is None and type(None) not in args:
            return value
        return mode
    return value


# -- the schema of a layer: its keyword options and their annotations ----------------


@dataclass(frozen=True)
class Option:
    """One option of a layer: name, annotation (``Any`` when unknown), default."""

    name: str
    annotation: Any
    default: Any

    @property
    def required(self) -> bool:
        return self.default is _MISSING


@dataclass(frozen=True)
class LayerSchema:
    """The options a layer class accepts, read from its ``__init__``."""

    cls: type[Layer]
    options: dict[str, Option]
    open_ended: bool  # ``**kwargs``: unknown keys cannot be refused here

    @property
    def has_report_only(self) -> bool:
        return "report_only" in self.options


_schemas: dict[type[Layer], LayerSchema] = {}


def _hints(cls: type[Layer]) -> dict[str, Any]:
    init = cls.__init__
    try:
        return typing.get_type_hints(init)
    except Exception:
        # An annotation names something only imported under TYPE_CHECKING: resolve
        # each on its own and treat the unresolvable ones as Any.
        module = inspect.getmodule(cls)
        namespace = dict(vars(typing))
        namespace.update(vars(collections.abc))
        namespace.update(vars(module) if module else {})
        hints: dict[str, Any] = {}
        for name, annotation in getattr(init, "__annotations__", {}).items():
            if isinstance(annotation, str):
                annotation = _resolve_annotation(annotation, namespace)
            hints[name] = annotation
        return hints


def _resolve_annotation(text: str, namespace: dict[str, Any]) -> Any:
    """One annotation written as text, resolved the way ``typing`` does (else Any)."""

    def probe() -> None: ...

    probe.__annotations__ = {"value": text}
    try:
        return typing.get_type_hints(probe, globalns=namespace)["value"]
    except Exception:
        return Any


def layer_options(cls: type[Layer]) -> LayerSchema:
    """The schema of ``cls``: every parameter of ``__init__`` but ``self`` and ``app``."""
    schema = _schemas.get(cls)
    if schema is not None:
        return schema
    hints = _hints(cls)
    options: dict[str, Option] = {}
    open_ended = False
    for parameter in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if parameter.name == "app":
            continue
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            open_ended = True
            continue
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        options[parameter.name] = Option(
            parameter.name, hints.get(parameter.name, Any), parameter.default
        )
    schema = LayerSchema(cls, options, open_ended)
    _schemas[cls] = schema
    return schema


# -- values: type checks against annotations, strings converted ---------------------

_LIST_ORIGINS = {
    list,
    tuple,
    set,
    frozenset,
    collections.abc.Sequence,
    collections.abc.MutableSequence,
    collections.abc.Iterable,
    collections.abc.Collection,
    collections.abc.Set,
    collections.abc.MutableSet,
}
_DICT_ORIGINS = {dict, collections.abc.Mapping, collections.abc.MutableMapping}
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def type_name(annotation: Any) -> str:
    """A readable name of an annotation, for error messages."""
    if annotation is Any:
        return "any value"
    if annotation is type(None) or annotation is None:
        return "none"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(arg) for arg in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(arg) for arg in args)
    if origin in _LIST_ORIGINS:
        inner = type_name(args[0]) if args else "any value"
        return f"a list of ({inner})"
    if origin in _DICT_ORIGINS:
        return "a table (dict)"
    if origin is collections.abc.Callable:
        return "a callable ('module:function')"
    if isinstance(annotation, type):
        return {
            "str": "a string",
            "int": "an integer",
            "float": "a number",
            "bool": "a boolean",
        }.get(annotation.__name__, annotation.__name__)
    return str(annotation)


def _is_env_ref(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and "env" in value
        and set(value) <= {"env", "default"}
        and all(isinstance(item, str) for item in value.values())
    )


def _resolve_env(ref: dict[str, str], annotation: Any, path: str) -> Any:
    name = ref["env"]
    text = os.environ.get(name)
    if text is None:
        if "default" not in ref:
            raise ConfigError(
                path,
                f"environment variable {name} is not set; export it before starting "
                f'(or give a fallback: {{ env = "{name}", default = "..." }})',
            )
        text = ref["default"]
    return convert_string(text, annotation, path)


def check_value(value: Any, annotation: Any, path: str) -> Any:
    """``value`` checked against ``annotation``; returns it converted (lists -> tuples...)."""
    if _is_env_ref(value) and annotation is not Any:
        return _resolve_env(value, annotation, path)
    if annotation is Any or annotation is object:
        if _is_env_ref(value):
            return _resolve_env(value, str, path)
        return value
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is None or annotation is type(None):
        if value is None:
            return None
        raise ConfigError(path, f"{value!r} is not allowed here (expected none)")
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        members = [arg for arg in args if arg is not type(None)]
        if _is_factory_table(value) and any(isinstance(arg, type) for arg in members):
            value = _call_factory(value, path)  # once; its own errors (a typo) surface
        if len(members) == 1 and value is not None:
            return check_value(value, members[0], path)  # Optional[X]: X's own message
        for arg in members:
            try:
                return check_value(value, arg, path)
            except ConfigError as exc:
                if exc.path != path:
                    raise  # the shape matched; the error is deeper (an item or key)
        raise ConfigError(path, f"{value!r} is not {type_name(annotation)}")
    if origin is Literal:
        for arg in args:
            if value == arg and type(value) is type(arg):
                return value
        hint = _did_you_mean(value, [str(a) for a in args]) if isinstance(value, str) else ""
        raise ConfigError(path, f"{value!r} is not {type_name(annotation)}{hint}")
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(path, f"{value!r} is not a boolean; write true or false")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(path, f"{value!r} is not an integer")
    if annotation is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(path, f"{value!r} is not a number")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(path, f"{value!r} is not a string; quote it")
    if annotation is bytes:
        if isinstance(value, bytes):
            return value
        if isinstance(value, str):
            return value.encode("utf-8")
        raise ConfigError(path, f"{value!r} is not a string")
    if origin in _LIST_ORIGINS or annotation in _LIST_ORIGINS:
        return _check_collection(value, annotation, origin or annotation, args, path)
    if origin in _DICT_ORIGINS or annotation in _DICT_ORIGINS:
        if not isinstance(value, Mapping):
            raise ConfigError(path, f"{value!r} is not a table (dict)")
        key_type, value_type = args if len(args) == 2 else (Any, Any)
        return {
            check_value(key, key_type, path): check_value(item, value_type, _key_path(path, key))
            for key, item in value.items()
        }
    if origin is collections.abc.Callable or annotation is collections.abc.Callable:
        if isinstance(value, str):
            return _import_callable(value, path)
        if callable(value):
            return value
        raise ConfigError(path, f"{value!r} is not a callable; give 'module:function'")
    if isinstance(annotation, type) and _is_factory_table(value):
        value = _call_factory(value, path)
    if isinstance(annotation, type):
        try:
            if isinstance(value, annotation):
                return value
        except TypeError:  # a Protocol that is not runtime-checkable
            return value
        raise ConfigError(path, f"{value!r} is not {type_name(annotation)}")
    return value  # an annotation we cannot check (TypeVar, ...): the layer validates it


def _is_factory_table(value: Any) -> bool:
    return isinstance(value, Mapping) and isinstance(value.get("use"), str)


def _call_factory(table: Mapping[str, Any], path: str) -> Any:
    """``{ use = "module:Class", option = ... }``: an object built at start-up (a store)."""
    factory = _import_callable(table["use"], f"{path}.use")
    kwargs = {
        key: check_value(item, Any, _key_path(path, key))
        for key, item in table.items()
        if key != "use"
    }
    try:
        return factory(**kwargs)
    except OptionError as exc:  # the factory names its option: path.option
        raise ConfigError.of_layer(exc, path) from exc
    except TypeError as exc:
        raise ConfigError(path, f"{table['use']}: {exc}" + _keyword_hint(exc, factory)) from exc
    except ValueError as exc:
        raise ConfigError(path, f"{table['use']}: {exc}") from exc


def _check_collection(
    value: Any, annotation: Any, origin: Any, args: tuple[Any, ...], path: str
) -> Any:
    if isinstance(value, str | bytes | Mapping) or not isinstance(
        value, list | tuple | set | frozenset
    ):
        raise ConfigError(path, f"{value!r} is not a list; write [{value!r}]")
    items = list(value)
    if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        if len(items) != len(args):
            raise ConfigError(path, f"{value!r} must have exactly {len(args)} items")
        return tuple(
            check_value(item, arg, f"{path}[{index}]")
            for index, (item, arg) in enumerate(zip(items, args, strict=True))
        )
    item_type = args[0] if args else Any
    checked = [check_value(item, item_type, f"{path}[{index}]") for index, item in enumerate(items)]
    if origin is tuple:
        return tuple(checked)
    if origin in (set, collections.abc.Set, collections.abc.MutableSet):
        return set(checked)
    if origin is frozenset:
        return frozenset(checked)
    return checked


def _key_path(path: str, key: Any) -> str:
    if isinstance(key, str) and key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{key!r}]"


def _import_callable(reference: str, path: str) -> Any:
    try:
        obj = registry.import_reference(reference)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(
            path, f"cannot import {reference!r} ({exc}); give 'module:function'"
        ) from exc
    if not callable(obj):
        raise ConfigError(path, f"{reference!r} is not callable")
    return obj


def convert_string(text: str, annotation: Any, path: str) -> Any:
    """Convert a string (PasteDeploy option, environment variable) to ``annotation``.

    Booleans: ``true/false/yes/no/on/off/1/0``; lists: comma- or newline-separated
    (or a JSON array); tables: a JSON object; ``none``/``null`` for an optional option.
    """
    if annotation is Any or annotation is str or annotation is object:
        return text
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    stripped = text.strip()
    if origin in (Union, types.UnionType):
        if stripped.lower() in ("none", "null") and type(None) in args:
            return None
        members = [arg for arg in args if arg is not type(None)]
        # Strings last: "3" for ``int | str`` is the integer.
        members.sort(key=lambda arg: arg is str)
        errors: list[ConfigError] = []
        for arg in members:
            try:
                return convert_string(text, arg, path)
            except ConfigError as exc:
                errors.append(exc)
        for error in errors:
            if stripped.startswith(("{", "[")) and "not valid JSON" in error.message:
                raise error  # meant as JSON: say what is wrong with it
        raise ConfigError(path, f"{text!r} is not {type_name(annotation)}")
    if origin is Literal:
        for arg in args:
            if str(arg).lower() == stripped.lower() or (
                isinstance(arg, bool) and stripped.lower() in (_TRUE if arg else _FALSE)
            ):
                return arg
        raise ConfigError(
            path,
            f"{text!r} is not {type_name(annotation)}"
            + _did_you_mean(stripped, [str(a) for a in args]),
        )
    if annotation is bool:
        lowered = stripped.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigError(path, f"{text!r} is not a boolean; write true or false")
    if annotation is int:
        try:
            return int(stripped)
        except ValueError:
            raise ConfigError(path, f"{text!r} is not an integer") from None
    if annotation is float:
        try:
            return float(stripped)
        except ValueError:
            raise ConfigError(path, f"{text!r} is not a number") from None
    if annotation is bytes:
        return text.encode("utf-8")
    if origin in _LIST_ORIGINS or annotation in _LIST_ORIGINS:
        if stripped.startswith("["):
            return check_value(_json(stripped, path), annotation, path)
        parts = [part.strip() for part in stripped.replace("\n", ",").split(",")]
        parts = [part for part in parts if part]
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(parts) != len(args):
                raise ConfigError(path, f"{text!r} must have exactly {len(args)} items")
            return tuple(
                convert_string(part, arg, f"{path}[{index}]")
                for index, (part, arg) in enumerate(zip(parts, args, strict=True))
            )
        item_type = args[0] if args else Any
        converted = [
            convert_string(part, item_type, f"{path}[{index}]") for index, part in enumerate(parts)
        ]
        return check_value(converted, annotation, path)
    if origin in _DICT_ORIGINS or annotation in _DICT_ORIGINS:
        return check_value(_json(stripped, path), annotation, path)
    if origin is collections.abc.Callable or annotation is collections.abc.Callable:
        return _import_callable(stripped, path)
    return check_value(text, annotation, path)


def _json(text: str, path: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError(path, f"{text!r} is not valid JSON ({exc})") from None


# -- the configuration model ---------------------------------------------------------


def _specificity(pattern: str) -> tuple[bool, int, int]:
    """Sort key, least specific first, in the order :class:`~headerware.paths.PathRules`
    prefers patterns: exact above every subtree, then the longer prefix, then
    ``/api/`` above ``/api/*``."""
    kind, key = pattern_key(pattern)
    return (kind is None, len(key), kind or 0)


@dataclass
class _Route:
    index: int
    patterns: list[str]
    report_only: bool | None
    #: name -> converted options (without report_only), or None when disabled here.
    layers: dict[str, dict[str, Any] | None]
    layer_report_only: dict[str, bool] = field(default_factory=dict)


@dataclass
class _Plan:
    report_only: bool
    order: list[str]
    classes: dict[str, type[Layer]]
    layers: dict[str, dict[str, Any]]  # enabled global layers -> converted options
    layer_report_only: dict[str, bool]
    routes: list[_Route]


def _layer_class(name: str, extra: Mapping[str, type[Layer]], path: str) -> type[Layer]:
    if name in extra:
        return extra[name]
    try:
        return registry.layer_class(name)
    except (ImportError, TypeError) as exc:
        raise ConfigError(path, str(exc)) from exc


def _check_table(
    name: str, cls: type[Layer], table: Any, path: str
) -> tuple[bool, dict[str, Any], bool | None]:
    """Validate one layer table: (enabled, converted options, report_only or None)."""
    if table is None:
        table = {}
    if not isinstance(table, Mapping):
        raise ConfigError(path, f"{table!r} is not a table; write [{name}] with options under it")
    schema = layer_options(cls)
    enabled = True
    options: dict[str, Any] = {}
    report_only: bool | None = None
    for key, value in table.items():
        key_path = f"{path}.{key}"
        if key == "enabled":
            enabled = check_value(value, bool, key_path)
            continue
        option = schema.options.get(key)
        if option is None:
            if schema.open_ended:
                options[key] = value
                continue
            raise ConfigError(
                key_path,
                f"unknown option of {cls.__name__}"
                + _did_you_mean(key, [*schema.options, "enabled"]),
            )
        if key == "secure":
            value = coerce_secure(value, option.annotation)
        converted = check_value(value, option.annotation, key_path)
        if key == "report_only":
            report_only = converted
        else:
            options[key] = converted
    return enabled, options, report_only


def _parse(data: Mapping[str, Any]) -> _Plan:
    if not isinstance(data, Mapping):
        raise ConfigError(
            "", f"the configuration must be a table (dict), not {type(data).__name__}"
        )
    glob = data.get("headerware", {})
    if not isinstance(glob, Mapping):
        raise ConfigError("headerware", "must be a table: [headerware]")
    for key in glob:
        if key not in _GLOBAL_KEYS:
            raise ConfigError(
                f"headerware.{key}", "unknown global option" + _did_you_mean(key, _GLOBAL_KEYS)
            )
    report_only = check_value(glob.get("report_only", False), bool, "headerware.report_only")
    extra: dict[str, type[Layer]] = {}
    custom = check_value(glob.get("layers", {}), dict[str, str], "headerware.layers")
    for name, reference in custom.items():
        path = f"headerware.layers.{name}"
        if not name.isidentifier() or name in ("headerware", "routes"):
            raise ConfigError(path, "a layer name must be a lower_case identifier")
        try:
            obj = registry.import_reference(reference)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ConfigError(path, f"cannot import {reference!r}: {exc}") from exc
        if not (isinstance(obj, type) and issubclass(obj, Layer)):
            raise ConfigError(path, f"{reference!r} is not a headerware Layer subclass")
        extra[name] = obj
    known = [*registry.LAYERS, *extra]

    def known_layer(name: str, path: str) -> type[Layer]:
        if name not in known:
            raise ConfigError(
                path, "unknown layer" + _did_you_mean(name, [*known, "headerware", "routes"])
            )
        return _layer_class(name, extra, path)

    classes: dict[str, type[Layer]] = {}
    layers: dict[str, dict[str, Any]] = {}
    layer_report_only: dict[str, bool] = {}
    for name, table in data.items():
        if name in ("headerware", "routes"):
            continue
        cls = classes[name] = known_layer(name, name)
        enabled, options, ro = _check_table(name, cls, table, name)
        if enabled:
            layers[name] = options
            if ro is not None:
                layer_report_only[name] = ro

    routes: list[_Route] = []
    raw_routes = data.get("routes", [])
    if not isinstance(raw_routes, Sequence) or isinstance(raw_routes, str):
        raise ConfigError("routes", "must be a list of tables: [[routes]]")
    seen: dict[tuple[int | None, str], int] = {}
    for index, raw in enumerate(raw_routes):
        rpath = f"routes[{index}]"
        if not isinstance(raw, Mapping):
            raise ConfigError(rpath, "must be a table with a path")
        if "path" not in raw:
            raise ConfigError(rpath, 'has no path; add path = "/api/*"')
        texts = check_value(raw["path"], str | list[str], f"{rpath}.path")
        texts = [texts] if isinstance(texts, str) else texts
        if not texts:
            raise ConfigError(f"{rpath}.path", "is empty; give at least one pattern")
        patterns: list[str] = []
        for position, text in enumerate(texts):
            ppath = f"{rpath}.path" if isinstance(raw["path"], str) else f"{rpath}.path[{position}]"
            try:
                patterns.append(check_pattern(text, option=ppath))
            except OptionError as exc:
                raise ConfigError(ppath, exc.problem, value=text, fix=exc.fix) from None
            key = pattern_key(text)
            if key in seen:
                raise ConfigError(
                    ppath, f"{text!r} is already the path of routes[{seen[key]}]; merge the two"
                )
            seen[key] = index
        route = _Route(
            index,
            patterns,
            check_value(raw.get("report_only"), bool | None, f"{rpath}.report_only"),
            {},
        )
        for name, table in raw.items():
            if name in _ROUTE_KEYS:
                continue
            lpath = f"{rpath}.{name}"
            if name not in known:
                raise ConfigError(
                    lpath,
                    "unknown layer or route option" + _did_you_mean(name, [*known, *_ROUTE_KEYS]),
                )
            cls = classes.setdefault(name, _layer_class(name, extra, lpath))
            enabled, options, ro = _check_table(name, cls, table, lpath)
            route.layers[name] = options if enabled else None
            if ro is not None:
                route.layer_report_only[name] = ro
        routes.append(route)

    used = list(classes)
    order_value = glob.get("order")
    if order_value is None:
        rank = {name: index for index, name in enumerate(known)}
        order = sorted(used, key=rank.__getitem__)
    else:
        order = check_value(order_value, list[str], "headerware.order")
        for index, name in enumerate(order):
            if name not in known:
                raise ConfigError(
                    f"headerware.order[{index}]", "unknown layer" + _did_you_mean(name, known)
                )
        if len(set(order)) != len(order):
            raise ConfigError("headerware.order", "names a layer twice")
        missing = [name for name in used if name not in order]
        if missing:
            raise ConfigError(
                "headerware.order",
                f"does not place {', '.join(missing)}; list every configured layer or drop 'order'",
            )
        order = [name for name in order if name in classes]
    return _Plan(report_only, order, classes, layers, layer_report_only, routes)


# -- building ----------------------------------------------------------------------------


class _Builder:
    """Constructs layer instances, sharing one instance per distinct set of options."""

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        self.cache: dict[tuple[str, str], Layer] = {}

    def build(
        self, name: str, options: dict[str, Any], report_only: bool | None, path: str
    ) -> Layer:
        cls = self.plan.classes[name]
        kwargs = dict(options)
        if report_only is not None and layer_options(cls).has_report_only:
            kwargs["report_only"] = report_only
        key = (name, repr(sorted(kwargs.items())))
        layer = self.cache.get(key)
        if layer is not None:
            return layer
        schema = layer_options(cls)
        missing = [o.name for o in schema.options.values() if o.required and o.name not in kwargs]
        if missing:
            raise ConfigError(path, f"missing required option {missing[0]!r} of {cls.__name__}")
        try:
            layer = cls(**kwargs)
        except ValueError as exc:
            raise ConfigError.of_layer(exc, path) from exc
        except TypeError as exc:
            raise ConfigError(
                path, f"{cls.__name__} refused the options: {exc}" + _keyword_hint(exc, cls)
            ) from exc
        self.cache[key] = layer
        return layer

    def global_report_only(self, name: str) -> bool | None:
        plan = self.plan
        if name in plan.layer_report_only:
            return plan.layer_report_only[name]
        return True if plan.report_only else None

    def base(self) -> list[Layer]:
        plan = self.plan
        return [
            self.build(name, plan.layers[name], self.global_report_only(name), name)
            for name in plan.order
            if name in plan.layers
        ]

    def variant(self, route: _Route, pattern: str) -> list[Layer]:
        """The layers for ``pattern``: every covering route applied, least specific first."""
        plan = self.plan
        covering = [
            (other_pattern, other)
            for other in plan.routes
            for other_pattern in other.patterns
            if covers(other_pattern, pattern)
        ]
        covering.sort(key=lambda item: _specificity(item[0]))
        enabled: dict[str, dict[str, Any]] = {k: dict(v) for k, v in plan.layers.items()}
        touched: dict[str, str] = {}
        route_ro: bool | None = None
        layer_ro: dict[str, bool] = {}
        for _, other in covering:
            if other.report_only is not None:
                route_ro = other.report_only
            for name, options in other.layers.items():
                touched[name] = f"routes[{other.index}].{name}"
                if options is None:
                    enabled.pop(name, None)
                else:
                    enabled.setdefault(name, {}).update(options)
            layer_ro.update(other.layer_report_only)
        layers = []
        for name in plan.order:
            if name not in enabled:
                continue
            if name in layer_ro:
                report_only: bool | None = layer_ro[name]
            elif route_ro is not None:
                report_only = route_ro
            else:
                report_only = self.global_report_only(name)
            path = touched.get(name, f"routes[{route.index}]")
            layers.append(self.build(name, enabled[name], report_only, path))
        return layers


class StackFactory:
    """A validated configuration: call it with a WSGI app to get the wrapped :class:`Stack`.

    All layers are built (and so validated) when the factory is created; calling it
    only assembles the stack, so one factory can wrap several apps.
    """

    def __init__(self, data: Mapping[str, Any], *, source: str | None = None) -> None:
        self.source = source
        plan = _parse(data)
        builder = _Builder(plan)
        self.layers: tuple[Layer, ...] = tuple(builder.base())
        routes: list[tuple[str, tuple[Layer, ...]]] = []
        for route in plan.routes:
            for pattern in route.patterns:
                routes.append((pattern, tuple(builder.variant(route, pattern))))
        self.routes = tuple(routes)
        # Build once without an app: validates the route table as the engine sees it.
        Stack(self.layers, None, routes=self.routes)

    def __call__(self, app: WSGIApplication | None = None) -> Stack:
        return Stack(self.layers, app, routes=self.routes)

    def asgi(self, app: ASGIApp | None = None) -> ASGIStack:
        """The same layers and routes around an ASGI 3 application."""
        from .asgi import ASGIStack

        return ASGIStack(self.layers, app, routes=self.routes)

    def describe(self) -> dict[str, Any]:
        """The stack in order with each layer's effective options, and every route's."""

        def listing(layers: Sequence[Layer]) -> list[dict[str, Any]]:
            return [{"layer": layer.name, "options": layer.describe()} for layer in layers]

        return {
            "layers": listing(self.layers),
            "routes": [{"path": path, "layers": listing(layers)} for path, layers in self.routes],
        }


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a TOML file, with the file name and position in any syntax error."""
    file = Path(path)
    try:
        with file.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError("", f"configuration file {str(file)!r} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"{file}: invalid TOML: {exc}") from None


def load_config(path: str | os.PathLike[str]) -> StackFactory:
    """Read and validate a TOML file; returns a factory ``app -> Stack``."""
    return StackFactory(read_toml(path), source=str(path))


def stack_from_dict(data: Mapping[str, Any], app: WSGIApplication | None = None) -> Stack:
    """The stack a plain dict describes (the TOML schema as Python data), around ``app``."""
    return StackFactory(data)(app)


def stack_from_toml(path: str | os.PathLike[str], app: WSGIApplication | None = None) -> Stack:
    """The stack a TOML file describes, around ``app``."""
    return load_config(path)(app)


def factory_from(
    config: str | os.PathLike[str] | Mapping[str, Any] | StackFactory | None,
) -> StackFactory:
    """A :class:`StackFactory` from a path, a dict, a factory, or ``None`` (the defaults)."""
    if isinstance(config, StackFactory):
        return config
    if config is None:
        return StackFactory(DEFAULT_CONFIG, source="<defaults>")
    if isinstance(config, Mapping):
        return StackFactory(config)
    return load_config(config)


#: The stack used when no configuration is given: the layers that need no secret.
DEFAULT_CONFIG: dict[str, Any] = {"security_headers": {}, "csp": {}, "cookie_policy": {}}
