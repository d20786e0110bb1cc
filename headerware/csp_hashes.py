"""Hash mode of the ``csp`` layer: ``'sha256-…'`` sources for inline blocks.

With ``hash_inline=True`` the layer asks for the body of each document response
(:meth:`~headerware.core.layer.ResponseHead.hold_body`). When the application's
body is already complete in memory (a list or tuple), :func:`add_hashes` finds
each inline ``<script>`` (without ``src``) and ``<style>`` block, hashes its
text exactly as written (sha256 of the UTF-8 bytes, base64, as browsers do)
and adds the sources to ``script-src`` / ``style-src`` of the layer's policies
on that response. A directive that is only inherited from ``default-src`` is
written out from ``default-src``'s sources plus the hashes; an explicit
``'none'`` is left alone.

Trade-offs, on purpose:

- **Every inline block of the body is trusted.** A page that echoes untrusted
  data into its HTML (reflected or stored injection) would have the injected
  ``<script>`` hashed and allowed, as if it were ``'unsafe-inline'`` for blocks.
  Use it only for pages built from trusted templates and data (the cacheable,
  static pages it is for); everything else keeps the per-request nonce. Code
  injected later in the browser (DOM) has no known hash and stays blocked.
- A streamed body is never buffered: the hook does not run, the response goes
  out with the configured policy (its inline code needs the nonce).
- An encoded body (``Content-Encoding``) is not looked at; nor is a body over
  :data:`MAX_BODY` bytes; at most :data:`MAX_HASHES` blocks per directive.
- The hashes are per response, so a cache must key on the body (it does: the
  body *is* the response); with ``nonce_directives=()`` the page carries no
  per-request value and stays cacheable.
- Event handler attributes (``onclick=``) and ``javascript:`` URLs are not
  hashed: they need ``'unsafe-hashes'``, which this mode does not add.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .csp_policy import csp_hash

if TYPE_CHECKING:
    from .core.layer import ResponseHead

__all__ = ["MAX_BODY", "MAX_HASHES", "add_hashes", "add_sources", "inline_hashes"]

MAX_BODY = 2 * 1024 * 1024
MAX_HASHES = 64
_CSP_HEADERS = ("Content-Security-Policy", "Content-Security-Policy-Report-Only")
_BLOCK = re.compile(
    rb"<(script|style)\b((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>(.*?)</\1\s*>",
    re.IGNORECASE | re.DOTALL,
)
_SRC = re.compile(rb"(?:^|\s)src\s*=", re.IGNORECASE)


def inline_hashes(body: bytes) -> dict[str, list[str]]:
    """``{"script-src": [...], "style-src": [...]}``: the sources of the inline blocks."""
    found: dict[str, list[str]] = {"script-src": [], "style-src": []}
    for match in _BLOCK.finditer(body):
        tag, attributes, content = match.groups()
        if tag.lower() == b"script" and _SRC.search(attributes):
            continue  # an external script: its content does not run
        directive = "script-src" if tag.lower() == b"script" else "style-src"
        hashed = csp_hash(content)
        if hashed not in found[directive] and len(found[directive]) < MAX_HASHES:
            found[directive].append(hashed)
    return found


def add_sources(policy: str, additions: dict[str, list[str]]) -> str:
    """``policy`` (a header value) with the sources added to their directives."""
    directives = [part.strip() for part in policy.split(";") if part.strip()]
    names = [part.split(None, 1)[0].lower() for part in directives]
    default = next((d for d, n in zip(directives, names, strict=True) if n == "default-src"), None)
    for name, sources in additions.items():
        if not sources:
            continue
        if name in names:
            index = names.index(name)
            current = directives[index].split()
            if current[1:] == ["'none'"]:
                continue  # an explicit 'none': no inline code at all, as configured
            directives[index] = " ".join(current + [s for s in sources if s not in current])
        elif default is not None:
            inherited = [s for s in default.split()[1:] if s != "'none'"]
            directives.append(" ".join([name, *inherited, *sources]))
            names.append(name)
    return "; ".join(directives)


def add_hashes(response: ResponseHead, chunks: list[bytes]) -> None:
    """The body hook: add the hashes of the body's inline blocks to the CSP headers."""
    if response.has("content-encoding") or sum(len(c) for c in chunks) > MAX_BODY:
        return
    additions = inline_hashes(b"".join(chunks))
    if not any(additions.values()):
        return
    for name in _CSP_HEADERS:
        values = response.get_all(name.lower())
        if not values:
            continue
        response.remove(name)
        for value in values:
            response.add(name, add_sources(value, additions))
