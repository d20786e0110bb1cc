"""Hypothesis settings for the hostile-input suites, and the strategies they share.

Two profiles, used explicitly by each property test (never loaded globally, so the
other test modules keep Hypothesis' defaults):

``headerware-ci``
    ``CI_EXAMPLES`` examples per property: enough to matter, and every property
    module stays well under a minute.
``headerware-slow``
    ``SLOW_EXAMPLES`` per property, for the ``slow`` marker
    (``python -m pytest -m slow tests/test_properties.py``).

Each property is written once and run under both through :func:`run_property`, with
the profile as a pytest parameter (``profile`` fixture below).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CI_EXAMPLES = int(os.environ.get("HEADERWARE_CI_EXAMPLES", "500"))
SLOW_EXAMPLES = int(os.environ.get("HEADERWARE_SLOW_EXAMPLES", "10000"))

settings.register_profile(
    "headerware-ci",
    max_examples=CI_EXAMPLES,
    deadline=None,  # no timing in unit tests; large inputs only have to finish
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "headerware-slow",
    max_examples=SLOW_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: The ``profile`` parameter of every property test: CI size, and the slow variant.
PROFILES = [
    pytest.param("headerware-ci", id="ci"),
    pytest.param("headerware-slow", id="slow", marks=pytest.mark.slow),
]


def run_property(profile: str, prop: Callable[..., None], *strategies: Any) -> None:
    """Run ``prop`` under the named profile with the given strategies."""
    settings(settings.get_profile(profile))(given(*strategies)(prop))()


# -- shared strategies --------------------------------------------------------------

#: RFC 9110 token characters (header and cookie names).
TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: RFC 6265 cookie-octets: what a well-formed cookie value is made of.
COOKIE_OCTETS = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '",;\\')

tokens = st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=20)
cookie_values = st.text(alphabet=COOKIE_OCTETS, max_size=40)
#: Any bytes a client can send, as a WSGI server hands them over (latin-1 decoded).
latin1 = st.binary(max_size=300).map(lambda b: b.decode("latin-1"))
latin1_text = st.text(alphabet=st.characters(max_codepoint=0xFF), max_size=200)
#: Unicode white space other than SP and HTAB: never trimmed from a cookie name.
unicode_spaces = st.sampled_from(
    [c for c in map(chr, range(0x10000)) if c.isspace() and c not in " \t"]
)
