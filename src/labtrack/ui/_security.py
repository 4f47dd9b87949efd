"""What keeps the UI safe: cross-site request checks, the CSP and other response headers.

Write actions (every UI ``POST``) must pass two independent checks:

1. **Same origin.** A browser sends ``Origin`` (and ``Sec-Fetch-Site``) with a POST; a
   request whose origin is another site, or ``null``, is refused.
2. **Double-submit token.** The UI sets a random token in an ``HttpOnly``,
   ``SameSite=Lax`` cookie and repeats it in every page (a hidden form field and a
   ``<meta>`` tag for scripts, which send it as ``X-CSRF-Token``). The request must
   carry the same token in the form or the header; another site can neither read the
   cookie nor set the field.

Reads stay ``GET`` and change nothing. The MLflow API under ``/api`` asks for no token
(MLflow clients send none); a state-changing API request from another site's page is
refused by ``labtrack.server._cross_site.CrossSiteGuard``.
"""

from __future__ import annotations

import hmac
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from labtrack.errors import BadRequest, PayloadTooLarge, PermissionDenied
from labtrack.server._body import read_body
from labtrack.server._cross_site import is_ui_path, same_origin

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "labtrack_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
MAX_FORM_BYTES = 1024 * 1024

_CSP = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data: blob:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "frame-src": "'self'",
    "form-action": "'self'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "object-src": "'none'",
}


def page_csp(*, inline_styles: bool = False) -> str:
    """The Content-Security-Policy of a page the server serves.

    Scripts only ever come from this server's own files: no inline scripts, no eval,
    nothing from another origin. Pages with Plotly charts (and the API page's Swagger UI)
    also allow inline *styles* (the scripts set style attributes and inject a stylesheet
    as they draw); other pages allow none.
    """
    policy = dict(_CSP)
    if inline_styles:
        policy["style-src"] = "'self' 'unsafe-inline'"
    return "; ".join(f"{k} {v}" for k, v in policy.items())


DEFAULT_CSP = page_csp()


# -- CSRF --------------------------------------------------------------------------------
def csrf_token(request: Request) -> tuple[str, bool]:
    """The request's token and whether it is new (and must be set as a cookie)."""
    cached = getattr(request.state, "csrf_token", None)
    if cached:
        return cached, False
    existing = request.cookies.get(CSRF_COOKIE, "")
    if _well_formed(existing):
        return existing, False
    token = secrets.token_urlsafe(32)
    request.state.csrf_token = token
    return token, True


def _well_formed(token: str) -> bool:
    return 20 <= len(token) <= 100 and all(c.isalnum() or c in "-_" for c in token)


def set_csrf_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        CSRF_COOKIE,
        token,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def _form_too_large(size: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The form of {size} bytes is larger than the limit of {limit}")


async def write_form(request: Request) -> dict[str, str]:
    """The form of a UI write action, once the request has passed the cross-site checks.

    Raises PermissionDenied (403) for a cross-site request or a missing/wrong token.
    """
    if not same_origin(request.headers):
        raise PermissionDenied("Cross-site request refused: this form must be sent from this site")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/x-www-form-urlencoded", ""):
        raise BadRequest(f"Expected a form (application/x-www-form-urlencoded), got {content_type}")
    body = await read_body(request, MAX_FORM_BYTES, too_large=_form_too_large)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise BadRequest("Form is not UTF-8") from None
    form: dict[str, Any] = {}
    for key, value in pairs:
        if key in form:
            existing = form[key]
            form[key] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            form[key] = value
    sent = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD) or ""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not (
        isinstance(sent, str)
        and cookie
        and hmac.compare_digest(sent.encode("utf-8"), cookie.encode("utf-8"))
    ):
        raise PermissionDenied(
            "Missing or wrong CSRF token: reload the page and try again (cookies must be on)"
        )
    form.pop(CSRF_FIELD, None)
    return form


# -- response headers ----------------------------------------------------------------------
class SecurityHeaders:
    """Adds the UI's security headers to every UI response, and to every HTML response
    elsewhere (the API's paths serve HTML too: ``/api/docs``). Pages set their own CSP;
    a response without one gets the strictest."""

    HEADERS = (
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ui = is_ui_path(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                if not ui and not _is_html(headers):
                    await send(message)
                    return
                for name, value in self.HEADERS:
                    if name not in present:
                        headers.append((name, value))
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", DEFAULT_CSP.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _is_html(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(
        name.lower() == b"content-type" and value.lower().startswith(b"text/html")
        for name, value in headers
    )
