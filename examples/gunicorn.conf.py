"""gunicorn in production with headerware: ``gunicorn -c examples/gunicorn.conf.py``.

    export HEADERWARE_SECRET_KEYS=$(headerware keygen)   # the same in every worker
    gunicorn -c examples/gunicorn.conf.py

The app is ``HEADERWARE_APP`` (default: the bare Flask example), wrapped in the stack
of ``HEADERWARE_CONFIG`` (default: ``examples/headerware.toml``). An app given on the
command line replaces ``wsgi_app`` below; ``headerware.deploy:wrap(...)`` without
``config=`` still reads the file this one names (``HEADERWARE_CONFIG`` is set here).

Everything secret comes from the environment; nothing here or in the TOML file is one.
The configuration is checked here, in the master, before any worker starts: a mistake
or a missing key (the public development key is refused in production) stops gunicorn
with the key path and the fix. Every worker builds the same stack from the same file
and environment, so a cookie signed by one worker verifies in another (shared keys)
and a session written by one is read by the next (the cookie store, or a shared
SQLite file / Redis for server-side sessions).
"""

import multiprocessing
import os
import tomllib

from headerware.config import ConfigError
from headerware.keys import deployment

_config = os.environ.setdefault("HEADERWARE_CONFIG", "examples/headerware.toml")
_app = os.environ.get("HEADERWARE_APP", "examples.flask_app:flask_app")

# Refuse to start on a bad configuration or without keys, before forking a worker.
with deployment(development=False):
    try:
        from headerware.config import load_config

        load_config(_config)
    except ConfigError as _error:
        raise SystemExit(f"headerware: {_config}: {_error}") from None

# The bare app, wrapped by headerware; gunicorn evaluates the call with literal arguments.
wsgi_app = f"headerware.deploy:wrap({_app!r}, config={_config!r})"

# Behind a reverse proxy on the same machine: listen on loopback only.
bind = os.environ.get("HEADERWARE_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = 1
timeout = 30
graceful_timeout = 30
# Headers and request line bounded before headerware ever sees them.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

# Proxy trust is ONE setting. gunicorn turns X-Forwarded-Proto into wsgi.url_scheme
# only for requests from `forwarded_allow_ips`; headerware's [proxy] layer (ProxyFix
# semantics: a number of trusted hops) reads the same headers. Keep them consistent:
# when the headerware configuration trusts a proxy, trust it here too (its addresses
# come from HEADERWARE_PROXY_IPS, default: a proxy on this machine); when it does not,
# trust nobody, so a client can never claim HTTPS or another address.
with open(_config, "rb") as _file:
    _trusts_proxy = "proxy" in tomllib.load(_file)
forwarded_allow_ips = (
    os.environ.get("HEADERWARE_PROXY_IPS", "127.0.0.1,::1") if _trusts_proxy else ""
)
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}

accesslog = "-"
errorlog = "-"
