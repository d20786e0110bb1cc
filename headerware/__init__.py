"""headerware: the HTTP headers and cookies every WSGI application must get right.

Layers wrap any WSGI application and run together as one pass per request::

    from headerware import Stack, SecurityHeaders, ContentSecurityPolicy, CORS

    app = Stack([SecurityHeaders(), ContentSecurityPolicy(), CORS(...)], wsgi_app)

or from a TOML file with :func:`stack_from_toml`. Per-request results reach the
application through ``headerware.*`` environ keys and the helper functions below.
"""

from __future__ import annotations

from .asgi import ASGIStack
from .config import ConfigError, load_config, stack_from_dict, stack_from_toml
from .core.context import Context, current_context
from .core.layer import HeaderBlock, Layer, Response, ResponseHead
from .crypto import CookieEncrypter, CookieSigner
from .keys import generate_key, load_secret_keys
from .layers.auth import BearerAuth, bearer_claims
from .layers.caching import Caching, cache_policy
from .layers.cookies import CookiePolicy, CookiePolicyError
from .layers.cors import CORS, cors_allow
from .layers.csp import ContentSecurityPolicy, csp_nonce
from .layers.csrf import CSRFProtect, csrf_refusal, csrf_token, csrf_verdict
from .layers.headers import RequestHeaders, ResponseHeaders, request_header
from .layers.hosts import TrustedHosts, TrustedProxy, proxy_original
from .layers.https_redirect import HTTPSRedirect
from .layers.negotiation import (
    Negotiation,
    negotiate_language,
    negotiate_media_type,
    negotiated_language,
    negotiated_media_type,
)
from .layers.security import SecurityHeaders
from .layers.sessions import Session, Sessions, get_session
from .layers.signing import SignedCookies, rejected_cookies
from .layers.websocket import WebSocketOrigins
from .options import OptionError
from .stack import Stack
from .stores import StoreUnavailable
from .stores.cookie import CookieStore
from .stores.sqlite import SQLiteStore
from .view import csp_amend

__version__ = "0.1.0"

__all__ = [
    "CORS",
    "ASGIStack",
    "BearerAuth",
    "CSRFProtect",
    "Caching",
    "ConfigError",
    "ContentSecurityPolicy",
    "Context",
    "CookieEncrypter",
    "CookiePolicy",
    "CookiePolicyError",
    "CookieSigner",
    "CookieStore",
    "HTTPSRedirect",
    "HeaderBlock",
    "Layer",
    "Negotiation",
    "OptionError",
    "RequestHeaders",
    "Response",
    "ResponseHead",
    "ResponseHeaders",
    "SQLiteStore",
    "SecurityHeaders",
    "Session",
    "Sessions",
    "SignedCookies",
    "Stack",
    "StoreUnavailable",
    "TrustedHosts",
    "TrustedProxy",
    "WebSocketOrigins",
    "bearer_claims",
    "cache_policy",
    "cors_allow",
    "csp_amend",
    "csp_nonce",
    "csrf_refusal",
    "csrf_token",
    "csrf_verdict",
    "current_context",
    "generate_key",
    "get_session",
    "load_config",
    "load_secret_keys",
    "negotiate_language",
    "negotiate_media_type",
    "negotiated_language",
    "negotiated_media_type",
    "proxy_original",
    "rejected_cookies",
    "request_header",
    "stack_from_dict",
    "stack_from_toml",
]
