"""The test suite is development: the development key may stand in for a missing one.

``HEADERWARE_DEVELOPMENT=1`` is the one switch (see :mod:`headerware.keys`); the
production entry points (``headerware.deploy.wrap``, the PasteDeploy factories,
``headerware run`` on a public address) refuse the development key even so, and the
tests of those entry points remove the variable from their servers' environment.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from headerware import keys

os.environ[keys.DEV_MODE_ENV_VAR] = "1"


@pytest.fixture(autouse=True)
def _dev_key_warning_per_test() -> Iterator[None]:
    # The warning is once per process; each test that asserts it sees its own.
    keys.reset_dev_key_warning()
    yield
