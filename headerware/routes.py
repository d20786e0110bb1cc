"""Per-route rules: path patterns that override, extend or disable layers.

This module is documentation only: the configuration (:mod:`headerware.config`)
builds one layer list per route pattern, and :class:`~headerware.stack.Stack` picks
it with the one path model, :mod:`headerware.paths`. There is no second matcher.

A route is one or more path patterns plus per-layer settings. In a configuration::

    [[routes]]
    path = "/api/*"                    # or a list of patterns
    [routes.csp]                       # override options of a layer for these paths
    directives = { default-src = ["'none'"], frame-ancestors = ["'none'"] }
    [routes.cors]                      # extend: a layer only these paths get
    allow_origins = ["https://app.example.com"]

    [[routes]]
    path = "/legacy/*"
    report_only = true                 # every enforcing layer only logs here
    csp = { enabled = false }          # disable a layer for these paths

In Python: ``Stack(layers, app, routes=[("/api/*", api_layers)])``, each route a
whole layer list.

Patterns (the same everywhere in headerware: :mod:`headerware.paths`)
    ``/data``
        exactly ``/data`` (not ``/data/``, not ``/data/x``).
    ``/api/*``
        ``/api`` itself and every path below ``/api/``, on a segment boundary
        (never ``/apifoo``).
    ``/api/``
        the subtree *without* ``/api``: ``/api/`` and every path below it, as a
        pattern ending in ``/`` means in Go's ``ServeMux``; ``/api`` itself gets
        the global settings (or those of another route that matches it).
    ``/*``
        every path.

    A ``*`` anywhere else is an error. Matching is case-sensitive, on the path
    below the mount point (``SCRIPT_NAME`` is not part of it).

Precedence (deterministic, independent of the order routes are written in)
    An exact pattern beats every subtree pattern; among subtree patterns the longer
    prefix wins, and ``/api/`` beats ``/api/*`` below ``/api/``. All patterns
    matching one path are nested, so a request takes the settings of every matching
    route applied from the least to the most specific: an option set by both
    ``/api/*`` and ``/api/admin/*`` takes the latter's value, an option only
    ``/api/*`` sets still applies under ``/api/admin/``. The same pattern written
    twice (also in an equivalent spelling: ``*`` and ``/*``) is a start-up error.

Raw and resolved paths
    A request has two paths (:mod:`headerware.paths`): the raw one (``PATH_INFO`` as
    sent, repeated slashes merged) and the resolved one (``.`` and ``..`` segments
    resolved as well). A route makes some requests laxer (report-only, a guard
    switched off), so it applies only when both paths pick the **same** route. A
    request whose raw and resolved paths pick *different* routes, e.g.
    ``/admin/../legacy/x`` with routes ``/admin/*`` and ``/legacy/*`` (raw: the
    admin route, resolved: the legacy one), is refused with ``400 Bad Request`` by
    the global layers and logged as the security event ``ambiguous_route``: it never
    gets the legacy route's settings, because the application's router may follow
    the raw path to the admin handler. The same holds when only one of the two
    paths picks a route. Browsers never send such paths.

Report-only precedence, most specific first: ``report_only`` in a route's layer
table, the route's own ``report_only``, ``report_only`` in the global layer table,
the global ``[headerware] report_only``.

Everything is resolved at start-up: one layer list (one engine chain) is
precomputed per route pattern, and a request costs one route lookup per path (two
when the raw path differs from the resolved one). Layer instances whose effective
options a route does not change are shared with the global stack.
"""

from __future__ import annotations

__all__: list[str] = []
