"""How the console answers a browser: pages rendered from templates with the catalogue's words, its cookies,
the security headers every page carries, and errors as messages on a page."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path as FilePath
from typing import Any
from urllib.parse import urlencode

import structlog
from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.customs import queue
from services.customs.console import i18n
from services.customs.console.actions import ACTIONS
from services.customs.console.sessions import SESSION_COOKIE, BrokerSession
from services.customs.console.settings import ConsoleSettings
from services.customs.domain.status import STATUSES
from services.customs.service import CustomsConfig
from shared.errors import SilkgateError
from shared.runtime import ServiceRuntime

log = structlog.get_logger()

HERE = FilePath(__file__).resolve().parent
PREFIX = "/console"
QUEUE_URL = f"{PREFIX}/queue"
SIGN_IN_URL = f"{PREFIX}/sign-in"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages carry personal data: no copy in the browser's cache
}

templates = Jinja2Templates(env=Environment(loader=FileSystemLoader(HERE / "templates"),
                                            autoescape=select_autoescape(default=True), undefined=StrictUndefined,
                                            trim_blocks=True, lstrip_blocks=True))


class NotSignedIn(Exception):
    """No live session: the page sends the broker to sign in (again, when a cookie named a session that ended)."""

    def __init__(self, *, ended: bool) -> None:
        super().__init__("not signed in")
        self.ended = ended


def runtime_of(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


def config_of(request: Request) -> CustomsConfig:
    return runtime_of(request).extras["customs"]


def settings_of(request: Request) -> ConsoleSettings:
    return runtime_of(request).extras["console"]


def lang_of(request: Request) -> str:
    return i18n.choose_language(request.cookies.get(i18n.LANGUAGE_COOKIE), request.headers.get("accept-language"))


def safe_next(value: object) -> str:
    """Only a console page of this site (no scheme, no host): never an open redirect."""
    if isinstance(value, str) and value.startswith(f"{PREFIX}/") and "//" not in value and "\\" not in value:
        return value
    return QUEUE_URL


def secure(request: Request) -> bool:
    mode = settings_of(request).secure_cookie
    return mode == "always" or (mode == "auto" and request.url.scheme == "https")


def set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path=PREFIX, httponly=True, samesite="strict",
                        secure=secure(request))


def to_sign_in(request: Request, *, ended: bool) -> Response:
    target = f"{SIGN_IN_URL}?{urlencode({'next': safe_next(here(request)), **({'ended': '1'} if ended else {})})}"
    if request.headers.get("hx-request"):
        # htmx would swap a redirected page into the queue; HX-Redirect makes it load the sign-in page instead.
        response: Response = Response(status_code=200, headers={"HX-Redirect": target})
    else:
        response = RedirectResponse(target, status_code=303)
    if ended:
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


def here(request: Request) -> str:
    """The page the broker is on — for a refresh fragment or a form, the page it belongs to — to come back to after
    signing in again or switching language."""
    path = request.url.path.removesuffix("/live").split("/actions/")[0].removesuffix("/personal-data")
    if path == f"{PREFIX}/sign-out":
        return QUEUE_URL
    return f"{path}?{request.url.query}" if request.url.query else path


def fmt_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def error_text(lang: str, error: SilkgateError) -> str:
    """The catalogue's words for an error code (with the error's details), else the service's own sentence."""
    code = error.code
    if code == "claim_required" and error.extra.get("claimed_by"):
        code = "declaration_claimed"  # someone else holds it: say who
    key = f"error.{code}"
    if key in i18n.catalogue():
        params = {key: str(value) for key, value in error.extra.items() if value is not None}
        if "current_status" in error.extra:
            params["current_status"] = i18n.text(lang, f"status.{error.extra['current_status']}")
        if error.extra.get("claim_expires_at"):
            params["claim_expires_at"] = fmt_time(datetime.fromisoformat(error.extra["claim_expires_at"]))
        field = error.field or ""
        if f"field.{field}" in i18n.catalogue():
            field = i18n.text(lang, f"field.{field}")  # the label the broker sees on the form
        return i18n.text(lang, key, field=field, **params)
    return error.detail


def render(request: Request, template: str, *, broker: BrokerSession | None, status: int = 200,
           error: SilkgateError | None = None, **context: Any) -> HTMLResponse:
    lang = lang_of(request)
    settings = settings_of(request)
    values = {
        "lang": lang, "t": i18n.translator(lang), "broker": broker, "csrf_token": broker.csrf_token if broker else "",
        "fmt_time": fmt_time, "duration": lambda span: i18n.duration(lang, span), "here": here(request),
        "statuses": STATUSES, "refresh_s": settings.refresh_s, "actions": ACTIONS,
        "error": error, "error_message": error_text(lang, error) if error else None,
        "notice": None, **context,
    }
    response = templates.TemplateResponse(request, template, values, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def error_page(request: Request, error: SilkgateError) -> HTMLResponse:
    log.info("console.error", code=error.code, status=error.status, path=request.url.path)
    return render(request, "error.html", broker=None, status=error.status, error=error)


def place(filters: queue.QueueFilters, **extra: str) -> str:
    params = {**filters.query_params(), **{k: v for k, v in extra.items() if v}}
    return f"?{urlencode(params)}" if params else ""


