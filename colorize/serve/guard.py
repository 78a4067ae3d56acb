"""What keeps other web sites away from the local server: same-origin POSTs only, and headers that forbid framing.

Why: a page the user visits elsewhere can make the browser send requests to
``http://127.0.0.1:8000``. A ``fetch(url, {method: "POST", mode: "no-cors"})`` with a plain body
is a "simple" request, sent without asking the server first; it could upload photos and
make the server work. So a POST must carry a custom header (``X-Filename``), which makes it a
non-simple request that a browser only sends cross-site after a CORS preflight this server
never grants, and its ``Origin``, when there is one, must be this server's own. A client
that is not a browser (curl, a script) sends no ``Origin`` and passes. ``Sec-Fetch-Site``,
sent by modern browsers, must say ``same-origin`` (or ``none``: typed by the user).

Every answer carries the page's Content-Security-Policy as a header (a ``<meta>`` tag cannot
say ``frame-ancestors``), ``frame-ancestors 'none'`` so no other site can frame the page
under a decoy (clickjacking), ``X-Content-Type-Options: nosniff`` so a picture is never
sniffed into a script, and ``Referrer-Policy: no-referrer``.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit

__all__ = ["CUSTOM_HEADER", "SECURITY_HEADERS", "SameOriginGuard"]

log = logging.getLogger(__name__)

#: The header every POST must carry (the page sends the file's name in it).
CUSTOM_HEADER = "x-filename"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob:; style-src 'self'; script-src 'self'; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _same_origin(origin: str, host: str, scheme: str) -> bool:
    """Whether ``origin`` (``http://127.0.0.1:8000``) is the server the request was sent to (its ``Host``)."""
    try:
        parts, own = urlsplit(origin), urlsplit(f"{scheme}://{host}")
        origin_port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
        own_port = own.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        return False
    hostname = (parts.hostname or "").lower()
    return (
        parts.scheme == scheme
        and bool(hostname)
        and hostname == (own.hostname or "").lower()
        and (origin_port == own_port)
    )


def refusal(scope) -> str | None:
    """Why a request may not change anything here, or None when it may."""
    if scope.get("method", "GET") in _SAFE_METHODS:
        return None
    headers = _headers(scope)
    if CUSTOM_HEADER not in headers:
        return f"a POST must carry an {CUSTOM_HEADER} header (the page sends one)"
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"requests from other sites are refused (Sec-Fetch-Site: {site})"
    origin = headers.get("origin")
    if origin is not None and not _same_origin(origin, headers.get("host", ""), scope.get("scheme", "http")):
        return f"requests from other sites are refused (Origin: {origin})"
    return None


class SameOriginGuard:
    """ASGI middleware: refuses cross-site POSTs with 403 and adds :data:`SECURITY_HEADERS` to every answer."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        why = refusal(scope)
        if why is None:
            await self.app(scope, receive, send_with_headers)
            return
        log.warning("refused %s %s: %s", scope.get("method"), scope.get("path"), why)
        body = json.dumps({"error": why}).encode()
        await send_with_headers(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
