"""Content negotiation: pick the media type and language the client prefers.

The application declares what it can produce; headerware picks the best match
from the request's ``Accept`` / ``Accept-Language`` with werkzeug's
:class:`~werkzeug.datastructures.MIMEAccept` and
:class:`~werkzeug.datastructures.LanguageAccept` (the shared parse behind
``ctx.accept`` / ``ctx.accept_language``): q-values honoured, wildcards (``*/*``,
``text/*``, ``*``) understood, ``q=0`` meaning "not acceptable" — so
``Accept-Language: en, es;q=0`` never gives Spanish, which a substring test on the
header would.

Per route, in the layer config::

    Negotiation(media_types={"/data": ["application/json", "text/html"]},
                languages={"/hello": ["en", "es"]})

or per request, from the application::

    media_type = negotiate_media_type(environ, ["application/json", "text/html"])

Per-route offers are route options, so they follow the path model's rule for
them (:meth:`~headerware.paths.PathRules.agreed`): a request whose raw and
resolved paths pick different rules (``/data/..%2fhello``) is not negotiated and
the application serves its default.

Either way the choice is published for the application and read with
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

Choices are remembered per (header value, offers) in a bounded
:class:`~headerware.memo.Memo`: browsers send a handful of distinct headers.
Configuration mistakes raise :class:`~headerware.options.OptionError` naming the
option (``media_types``, ``languages``).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from werkzeug.datastructures import LanguageAccept, MIMEAccept

from .._headers import is_token
from ..core.context import current_context, parse_language_accept, parse_mime_accept
from ..core.layer import Layer, Response
from ..memo import Memo
from ..options import OptionError, boolean
from ..paths import PathRules

if TYPE_CHECKING:
    from ..core.context import Context
    from ..core.layer import ResponseHead

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
#: Published by the layer and the helpers: the Vary tokens this response needs.
_VARY_KEY = "headerware.negotiation.vary"

#: Headers longer than this are matched every time, never remembered.
_CHOICE_MAX_LENGTH = 512

Offers = tuple[str, ...]


def _best(accept: MIMEAccept | LanguageAccept, offers: Sequence[str]) -> str | None:
    return accept.best_match(offers)


def _best_language(accept: LanguageAccept, offers: Sequence[str]) -> str | None:
    """RFC 4647 section 3.4 lookup over the client's ranges, ``q=0`` ranges refused."""
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


# The header is parsed by the same memoised parse as ``ctx.accept`` (one parse per
# distinct value, shared with every layer), so the choice depends on the key alone.
def _media_choice(key: tuple[str, Offers]) -> str | None:
    return _best(parse_mime_accept(key[0]), key[1])


def _language_choice(key: tuple[str, Offers]) -> str | None:
    return _best_language(parse_language_accept(key[0]), key[1])


#: Choices by (raw header, offers): a pure function of the two, and werkzeug's
#: ``best_match`` costs ~10 us.
_media_choices: Memo[tuple[str, Offers], str | None] = Memo(
    "negotiation.media_type", _media_choice, size=512
)
_language_choices: Memo[tuple[str, Offers], str | None] = Memo(
    "negotiation.language", _language_choice, size=512
)


def _choose(
    header: str | None,
    offers: Sequence[str],
    memo: Memo[tuple[str, Offers], str | None],
) -> str | None:
    """The best offer for ``header``; the first offer when there is no header."""
    if not offers:
        return None
    if not header:
        return offers[0]  # no header: anything is acceptable; the server's first choice
    offers = _as_offers(offers)
    if len(header) > _CHOICE_MAX_LENGTH or type(offers) is not tuple:
        return memo.compute((header, offers))  # type: ignore[arg-type]
    return memo((header, offers))


def _as_offers(offers: Sequence[str]) -> Sequence[str]:
    """A tuple of the offers when they are all strings (rememberable), else as given."""
    if type(offers) is tuple:
        return offers
    as_tuple = tuple(offers)
    for offer in as_tuple:
        if type(offer) is not str:
            return offers
    return as_tuple


def _with_token(marked: object, token: str) -> tuple[str, ...]:
    """The Vary tokens ``marked`` with ``token`` added."""
    if not isinstance(marked, tuple):
        return (token,)
    return marked if token in marked else (*marked, token)


# -- the application's side -----------------------------------------------------------


def _negotiate(
    environ: MutableMapping[str, Any],
    header: str,
    offers: Sequence[str],
    default: str | None,
    memo: Memo[tuple[str, Offers], str | None],
    key: str,
    token: str,
) -> str | None:
    ctx = current_context(environ)  # environ or ASGI scope alike, when headerware wrapped it
    value = ctx.header(token) if ctx is not None else environ.get(header)
    choice = _choose(value if isinstance(value, str) else None, offers, memo)
    if choice is None:
        choice = default
    environ[key] = choice
    environ[_VARY_KEY] = _with_token(environ.get(_VARY_KEY), token)
    return choice


def negotiate_media_type(
    environ: MutableMapping[str, Any], offers: Sequence[str], default: str | None = None
) -> str | None:
    """The best of ``offers`` for this request's ``Accept``; stored in the environ.

    Returns ``default`` when none is acceptable (``q=0`` or no match).
    """
    return _negotiate(
        environ, "HTTP_ACCEPT", offers, default, _media_choices, MEDIA_TYPE_KEY, "Accept"
    )


def negotiate_language(
    environ: MutableMapping[str, Any], offers: Sequence[str], default: str | None = None
) -> str | None:
    """The best of ``offers`` for this request's ``Accept-Language``; stored in the environ.

    Returns ``default`` when none is acceptable (``q=0`` or no match).
    """
    return _negotiate(
        environ,
        "HTTP_ACCEPT_LANGUAGE",
        offers,
        default,
        _language_choices,
        LANGUAGE_KEY,
        "Accept-Language",
    )


def negotiated_media_type(environ: Mapping[str, Any]) -> str | None:
    """The media type chosen for this request, or ``None``."""
    value = environ.get(MEDIA_TYPE_KEY)
    return value if isinstance(value, str) else None


def negotiated_language(environ: Mapping[str, Any]) -> str | None:
    """The language chosen for this request, or ``None``."""
    value = environ.get(LANGUAGE_KEY)
    return value if isinstance(value, str) else None


# -- the layer --------------------------------------------------------------------------


def _valid_offer(offer: object, media: bool) -> bool:
    if not isinstance(offer, str):
        return False
    if media:
        parts = offer.split("/")
        return len(parts) == 2 and all(is_token(p) and p != "*" for p in parts)
    return all(part.isalnum() and part.isascii() for part in offer.split("-"))


def _offers(values: object, option: str, media: bool) -> dict[str, Offers]:
    example = "['application/json', 'text/html']" if media else "['en', 'es']"
    if not isinstance(values, Mapping):
        raise OptionError(
            option, values, "give a mapping of path pattern to offers", f"e.g. {{'/x': {example}}}"
        )
    checked: dict[str, Offers] = {}
    for pattern, offers in values.items():
        if isinstance(offers, str) or not offers:
            raise OptionError(
                option,
                offers,
                f"[{pattern!r}]: give a non-empty list of offers",
                f"e.g. {example}",
            )
        for offer in offers:
            if not _valid_offer(offer, media):
                what = "concrete media type" if media else "language tag"
                raise OptionError(
                    option,
                    offer,
                    f"[{pattern!r}]: {offer!r} is not a {what}",
                    "e.g. 'text/html'" if media else "e.g. 'en' or 'pt-BR'",
                )
        checked[pattern] = tuple(offers)
    return checked


class Negotiation(Layer):
    """Choose media type and language per route; add the matching ``Vary``."""

    name: ClassVar[str] = "negotiation"

    def __init__(
        self,
        app: Any = None,
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
        self.not_acceptable = boolean("not_acceptable", not_acceptable)
        if not (self._media or self._languages):
            self.handles_request = False  # only the helpers' Vary is left to add

    def _negotiate(
        self,
        ctx: Context,
        rules: PathRules[Offers],
        header: str,
        memo: Memo[tuple[str, Offers], str | None],
        key: str,
        token: str,
    ) -> str | None:
        """Publish the choice for this route's offers; what was refused, if anything."""
        # Offers are route options: applied only when raw and resolved path agree.
        found = rules.agreed(ctx) if rules else None
        if found is None:
            return None
        offers = found[1]
        choice = _choose(ctx.header(header), offers, memo)
        refused = None
        if choice is None:
            refused = ", ".join(offers)
            choice = offers[0]
        ctx.publish(key, choice)
        ctx.publish(_VARY_KEY, _with_token(ctx.published(_VARY_KEY), token))
        return refused

    def on_request(self, ctx: Context) -> Response | None:
        refused: list[str] = []
        media = self._negotiate(
            ctx, self._media, "accept", _media_choices, MEDIA_TYPE_KEY, "Accept"
        )
        if media is not None:
            refused.append("media types: " + media)
        language = self._negotiate(
            ctx,
            self._languages,
            "accept-language",
            _language_choices,
            LANGUAGE_KEY,
            "Accept-Language",
        )
        if language is not None:
            refused.append("languages: " + language)
        if refused and self.not_acceptable:
            return Response.text(
                "406 Not Acceptable", "Not Acceptable. Available " + "; ".join(refused)
            )
        return None

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        tokens = ctx.published(_VARY_KEY)
        if tokens:
            response.merge_vary(*tokens)

    def describe(self) -> dict[str, Any]:
        return {
            "media_types": {k: list(v) for k, v in self._media_offers.items()},
            "languages": {k: list(v) for k, v in self._language_offers.items()},
            "not_acceptable": self.not_acceptable,
        }
