"""Content negotiation: pick the media type and language the client prefers.

The application declares what it can produce; headerware picks the best match
from the request's ``Accept`` / ``Accept-Language`` with werkzeug's
:class:`~werkzeug.datastructures.MIMEAccept` and
:class:`~werkzeug.datastructures.LanguageAccept` (parsed once per request by the
engine): q-values honoured, wildcards (``*/*``, ``text/*``, ``*``) understood,
``q=0`` meaning "not acceptable" — so ``Accept-Language: en, es;q=0`` never gives
Spanish, which a substring test on the header would.

Per route, in the layer config::

    Negotiation(media_types={"/data": ["application/json", "text/html"]},
                languages={"/hello": ["en", "es"]})

or per request, from the application::

    media_type = negotiate_media_type(environ, ["application/json", "text/html"])

Either way the choice is stored in the environ and read with
:func:`negotiated_media_type` / :func:`negotiated_language` (keys
``headerware.negotiation.media_type`` and ``headerware.negotiation.language``).
Offers are in the server's order of preference: the first wins ties and is the
answer when the client sends no header. Language ranges are taken in the client's
order of preference, each looked up as RFC 4647 section 3.4 says: the range
itself, an offer it covers (``en`` covers ``en-US``), then the range with its last
subtag cut (``es-MX`` finds ``es``) — so ``es-MX, en;q=0.5`` gives Spanish and
``en-US, es;q=0.8`` English; an offer covered by a ``q=0`` range is never chosen.

Responses of negotiated routes (and of requests where the helpers were used while
the layer is in the stack) get ``Vary: Accept`` / ``Vary: Accept-Language``, merged
with the shared Vary helper, so caches keep the variants apart. Without the layer
the helpers still work, but the application sets ``Vary`` itself.

``not_acceptable`` (``False``)
    When nothing offered is acceptable, answer ``406 Not Acceptable`` (plain text,
    listing what is available) instead of calling the application. Off by default:
    RFC 9110 allows serving the default representation, which is friendlier to
    clients with narrow Accept headers. When off, the first offer is chosen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from werkzeug.datastructures import LanguageAccept, MIMEAccept

from .._headers import HeaderList, is_token, merge_vary
from ..engine import (
    Context,
    Layer,
    Response,
    current_context,
    parse_language_accept,
    parse_mime_accept,
)
from ..paths import PathRules

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

__all__ = [
    "LANGUAGE_KEY",
    "MEDIA_TYPE_KEY",
    "Negotiation",
    "negotiate_language",
    "negotiate_media_type",
    "negotiated_language",
    "negotiated_media_type",
]

MEDIA_TYPE_KEY = "headerware.negotiation.media_type"
LANGUAGE_KEY = "headerware.negotiation.language"
#: Set by the helpers: which Vary tokens the layer should add to this response.
_VARY_KEY = "headerware.negotiation.vary"


def _accept(environ: WSGIEnvironment) -> MIMEAccept:
    ctx = current_context(environ)
    if ctx is not None:
        return ctx.accept
    return parse_mime_accept(environ.get("HTTP_ACCEPT"))


def _accept_language(environ: WSGIEnvironment) -> LanguageAccept:
    ctx = current_context(environ)
    if ctx is not None:
        return ctx.accept_language
    return parse_language_accept(environ.get("HTTP_ACCEPT_LANGUAGE"))


#: Choices by (raw header, offers): browsers send a handful of distinct Accept
#: headers and werkzeug's ``best_match`` costs ~10 us. The choice is a pure function
#: of the two, so a hit is exactly what the match returns. Bounded: cleared when
#: full; headers longer than ``_CHOICE_MAX_LENGTH`` are matched every time.
_CHOICE_CACHE_SIZE = 512
_CHOICE_MAX_LENGTH = 512
_MEDIA_CHOICES: dict[tuple[str, tuple[str, ...]], str | None] = {}
_LANGUAGE_CHOICES: dict[tuple[str, tuple[str, ...]], str | None] = {}
_MISS = object()


def _choose(
    header: str | None,
    cache: dict[tuple[str, tuple[str, ...]], str | None],
    best: Callable[[Any, bool, Sequence[str]], str | None],
    accept: Callable[[], Any],
    offers: Sequence[str],
) -> str | None:
    """``best`` for this request's header, remembered per (header, offers) in ``cache``."""
    if not header or len(header) > _CHOICE_MAX_LENGTH or type(offers) is not tuple:
        return best(accept(), bool(header), offers)
    key = (header, offers)
    choice = cache.get(key, _MISS)
    if choice is _MISS:
        choice = best(accept(), True, offers)
        if len(cache) >= _CHOICE_CACHE_SIZE:
            cache.clear()
        cache[key] = choice
    return choice  # type: ignore[return-value]


def _choose_media(
    environ: WSGIEnvironment, accept: Callable[[], MIMEAccept], offers: Sequence[str]
) -> str | None:
    """:func:`_best` for this request's Accept, remembered per (header, offers)."""
    return _choose(environ.get("HTTP_ACCEPT"), _MEDIA_CHOICES, _best, accept, offers)


def _choose_language(
    environ: WSGIEnvironment, accept: Callable[[], LanguageAccept], offers: Sequence[str]
) -> str | None:
    """:func:`_best_language` for this request's Accept-Language, remembered likewise."""
    return _choose(
        environ.get("HTTP_ACCEPT_LANGUAGE"), _LANGUAGE_CHOICES, _best_language, accept, offers
    )


def _best(accept: MIMEAccept | LanguageAccept, present: bool, offers: Sequence[str]) -> str | None:
    if not offers:
        return None
    if not present:
        return offers[0]  # no header: anything is acceptable; the server's first choice
    return accept.best_match(offers)


def _best_language(accept: LanguageAccept, present: bool, offers: Sequence[str]) -> str | None:
    if not offers:
        return None
    if not present:
        return offers[0]
    refused = [value.lower() for value, quality in accept if quality <= 0]
    candidates = [
        (offer, offer.lower())
        for offer in offers
        if not any(
            r == "*" or offer.lower() == r or offer.lower().startswith(r + "-") for r in refused
        )
    ]
    for value, quality in accept:
        if quality <= 0:
            continue
        tag = value.lower()
        if tag == "*":
            return candidates[0][0] if candidates else None
        while tag:
            for offer, lowered in candidates:
                if lowered == tag or lowered.startswith(tag + "-"):
                    return offer
            tag = tag.rpartition("-")[0]
    return None


def _as_offers(offers: Sequence[str]) -> Sequence[str]:
    """A tuple of the offers when they are all strings (cacheable), else as given."""
    if type(offers) is tuple:
        return offers
    as_tuple = tuple(offers)
    for offer in as_tuple:
        if type(offer) is not str:
            return offers
    return as_tuple


def _mark_vary(environ: WSGIEnvironment, token: str) -> None:
    marked = environ.get(_VARY_KEY)
    if marked is None:
        environ[_VARY_KEY] = (token,)
    elif token not in marked:
        environ[_VARY_KEY] = (*marked, token)


def negotiate_media_type(
    environ: WSGIEnvironment, offers: Sequence[str], default: str | None = None
) -> str | None:
    """The best of ``offers`` for this request's ``Accept``; stored in the environ.

    Returns ``default`` when none is acceptable (``q=0`` or no match).
    """
    choice = _choose_media(environ, lambda: _accept(environ), _as_offers(offers))
    if choice is None:
        choice = default
    environ[MEDIA_TYPE_KEY] = choice
    _mark_vary(environ, "Accept")
    return choice


def negotiate_language(
    environ: WSGIEnvironment, offers: Sequence[str], default: str | None = None
) -> str | None:
    """The best of ``offers`` for this request's ``Accept-Language``; stored in the environ.

    Returns ``default`` when none is acceptable (``q=0`` or no match).
    """
    choice = _choose_language(environ, lambda: _accept_language(environ), _as_offers(offers))
    if choice is None:
        choice = default
    environ[LANGUAGE_KEY] = choice
    _mark_vary(environ, "Accept-Language")
    return choice


def negotiated_media_type(environ: WSGIEnvironment) -> str | None:
    """The media type chosen for this request, or ``None``."""
    value = environ.get(MEDIA_TYPE_KEY)
    return value if isinstance(value, str) else None


def negotiated_language(environ: WSGIEnvironment) -> str | None:
    """The language chosen for this request, or ``None``."""
    value = environ.get(LANGUAGE_KEY)
    return value if isinstance(value, str) else None


def _offers(
    values: Mapping[str, Sequence[str]], option: str, media: bool
) -> dict[str, tuple[str, ...]]:
    if not isinstance(values, Mapping):
        raise ValueError(f"{option}: give a mapping of path pattern to offers")
    checked: dict[str, tuple[str, ...]] = {}
    for pattern, offers in values.items():
        if isinstance(offers, str) or not offers:
            raise ValueError(
                f"{option}[{pattern!r}]: give a non-empty list of offers, e.g. "
                + ("['application/json', 'text/html']" if media else "['en', 'es']")
            )
        for offer in offers:
            parts = offer.split("/") if isinstance(offer, str) else []
            valid = (
                len(parts) == 2 and all(is_token(p) and p != "*" for p in parts)
                if media
                else isinstance(offer, str)
                and all(part.isalnum() and part.isascii() for part in offer.split("-"))
            )
            if not valid:
                raise ValueError(
                    f"{option}[{pattern!r}]: {offer!r} is not a "
                    + (
                        "concrete media type such as 'text/html'"
                        if media
                        else "language tag such as 'en' or 'pt-BR'"
                    )
                )
        checked[pattern] = tuple(offers)
    return checked


class Negotiation(Layer):
    """Choose media type and language per route; add the matching ``Vary``."""

    context_in_environ = True

    name: ClassVar[str] = "negotiation"

    def __init__(
        self,
        app: WSGIApplication | None = None,
        *,
        media_types: Mapping[str, Sequence[str]] | None = None,
        languages: Mapping[str, Sequence[str]] | None = None,
        # Serving the default beats a 406 for most clients (RFC 9110 §12.1).
        not_acceptable: bool = False,
    ) -> None:
        super().__init__(app)
        self._media_offers = _offers(media_types or {}, "media_types", True)
        self._language_offers = _offers(languages or {}, "languages", False)
        self._media = PathRules(self._media_offers, option="media_types")
        self._languages = PathRules(self._language_offers, option="languages")
        self.not_acceptable = bool(not_acceptable)

    def on_request(self, ctx: Context) -> Response | None:
        environ = ctx.environ
        if not (self._media or self._languages):
            return None
        media = self._media.match_environ(environ) if self._media else None
        languages = self._languages.match_environ(environ) if self._languages else None
        refused: list[str] = []
        if media is not None:
            choice = _choose_media(environ, lambda: ctx.accept, media)
            if choice is None:
                refused.append("media types: " + ", ".join(media))
                choice = media[0]
            environ[MEDIA_TYPE_KEY] = choice
            _mark_vary(environ, "Accept")
        if languages is not None:
            choice = _choose_language(environ, lambda: ctx.accept_language, languages)
            if choice is None:
                refused.append("languages: " + ", ".join(languages))
                choice = languages[0]
            environ[LANGUAGE_KEY] = choice
            _mark_vary(environ, "Accept-Language")
        if refused and self.not_acceptable:
            return Response.text(
                "406 Not Acceptable", "Not Acceptable. Available " + "; ".join(refused)
            )
        return None

    def on_response(self, ctx: Context, status: str, headers: HeaderList) -> str | None:
        tokens = ctx.environ.get(_VARY_KEY)
        if tokens:
            merge_vary(headers, tokens)
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "media_types": {k: list(v) for k, v in self._media_offers.items()},
            "languages": {k: list(v) for k, v in self._language_offers.items()},
            "not_acceptable": self.not_acceptable,
        }
