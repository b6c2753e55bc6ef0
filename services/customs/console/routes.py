"""The console's pages under /console/: sign-in, the queue, a declaration and its actions.

Server-rendered with Jinja2; htmx (vendored in static/) refreshes the queue in place. Every page answers HTML:
an error is a message on the page, never problem+json or a stack trace (ConsoleRoute). Actions run the registry's
service functions (actions.py) in one transaction, as the API's endpoints do.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, FastAPI, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from services.customs import queue
from services.customs.console import i18n, messages
from services.customs.console.actions import ACTIONS, REVEAL_REASONS, ActionCall, read_form
from services.customs.console.pages import declaration_page
from services.customs.console.personal_data import reveal_personal_data
from services.customs.console.repository import ConsoleSessionRepository
from services.customs.console.sessions import (
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    BrokerSession,
    check_csrf,
    current,
    new_token,
    sign_in,
    sign_out,
)
from services.customs.console.settings import ConsoleSettings
from services.customs.console.web import (
    HERE,
    PREFIX,
    QUEUE_URL,
    SECURITY_HEADERS,
    SIGN_IN_URL,
    NotSignedIn,
    config_of,
    error_page,
    place,
    render,
    runtime_of,
    safe_next,
    secure,
    set_cookie,
    settings_of,
    to_sign_in,
)
from services.customs.repository import DeclarationRepository
from services.customs.repository_search import QueueSearchRepository
from services.customs.service import outbox_emitter
from shared.errors import InvalidInput, NotFound, SilkgateError, invalid_input_from, validation_errors

log = structlog.get_logger()

DeclarationId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]


class ConsoleRoute(APIRoute):
    """Every console route answers with a page: errors become messages, a missing session a trip to sign-in."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except NotSignedIn as exc:
                return to_sign_in(request, ended=exc.ended)
            except SilkgateError as exc:
                return error_page(request, exc)
            except RequestValidationError as exc:
                return error_page(request, invalid_input_from(validation_errors(list(exc.errors()))))
            except Exception:
                log.exception("console.unhandled_error", path=request.url.path)
                error = SilkgateError("An unexpected error occurred; it has been logged.", code="internal_error")
                error.status = 500
                return error_page(request, error)

        return route


router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


def install_console(app: FastAPI, settings: ConsoleSettings | None = None) -> None:
    """Serve the console from this app: its settings, static files and pages."""
    app.state.runtime.extras["console"] = settings or ConsoleSettings()
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.include_router(router)


# ── helpers ───────────────────────────────────────────────────────────────


def _sessions(request: Request, db: Any) -> ConsoleSessionRepository:
    return ConsoleSessionRepository(db, runtime_of(request).tables.api_keys)


async def _broker(request: Request, db: Any) -> BrokerSession:
    token = request.cookies.get(SESSION_COOKIE)
    broker = await current(_sessions(request, db), token, now=config_of(request).now())
    if broker is None:
        raise NotSignedIn(ended=bool(token))
    structlog.contextvars.bind_contextvars(principal_role="broker", principal_owner=broker.broker)
    return broker


def _filters(request: Request) -> tuple[queue.QueueFilters, SilkgateError | None]:
    """The broker's queue filters from the query string; bad ones are reported and the defaults used."""
    try:
        return queue.QueueFilters.parse(dict(request.query_params)), None
    except InvalidInput as exc:
        return queue.QueueFilters(), exc


# ── signing in and out ────────────────────────────────────────────────────


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
async def home() -> Response:
    return RedirectResponse(QUEUE_URL, status_code=303)


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request) -> Response:
    async with runtime_of(request).db.reader() as db:
        token = request.cookies.get(SESSION_COOKIE)
        if token and await current(_sessions(request, db), token, now=config_of(request).now()):
            return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    notice = ("sign_in.ended" if request.query_params.get("ended") else
              "sign_in.signed_out" if request.query_params.get("signed_out") else None)
    return _sign_in_form(request, notice=notice)


def _sign_in_form(request: Request, *, notice: str | None = None, error: SilkgateError | None = None) -> Response:
    form_token = request.cookies.get(SIGN_IN_COOKIE) or new_token()
    response = render(request, "sign_in.html", broker=None, status=error.status if error else 200, error=error,
                      notice=notice, sign_in_token=form_token,
                      next_url=safe_next(request.query_params.get("next")))
    set_cookie(request, response, SIGN_IN_COOKIE, form_token, max_age=3600)
    return response


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in_submit(request: Request) -> Response:
    form = await request.form()
    try:
        check_csrf(request.cookies.get(SIGN_IN_COOKIE), form.get("csrf_token"))
        settings, config = settings_of(request), config_of(request)
        async with runtime_of(request).db.transaction() as db:
            token, _session = await sign_in(_sessions(request, db), runtime_of(request).api_keys,
                                          key=str(form.get("key") or ""), now=config.now(),
                                          ttl=timedelta(seconds=settings.session_ttl_s))
    except SilkgateError as exc:
        return _sign_in_form(request, error=exc)
    response = RedirectResponse(safe_next(form.get("next")), status_code=303)
    set_cookie(request, response, SESSION_COOKIE, token, max_age=int(settings.session_ttl_s))
    response.delete_cookie(SIGN_IN_COOKIE, path=PREFIX)
    return response


@router.post("/sign-out", response_class=HTMLResponse)
async def sign_out_submit(request: Request) -> Response:
    form = await request.form()
    async with runtime_of(request).db.transaction() as db:
        broker = await _broker(request, db)
        check_csrf(broker.csrf_token, form.get("csrf_token"))
        await sign_out(_sessions(request, db), broker)
    response = RedirectResponse(f"{SIGN_IN_URL}?signed_out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


@router.get("/language", response_class=HTMLResponse)
async def choose_language(request: Request) -> Response:
    """A preference kept in the browser only (nothing changes on the server, so a link is enough)."""
    choice = request.query_params.get("to")
    response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    if choice in i18n.LANGUAGES:
        response.set_cookie(i18n.LANGUAGE_COOKIE, choice, max_age=365 * 86400, path=PREFIX, httponly=True,
                            samesite="lax", secure=secure(request))
    return response


# ── the queue ─────────────────────────────────────────────────────────────


async def _queue(request: Request, template: str) -> Response:
    filters, error = _filters(request)
    starting_after = request.query_params.get("after") or None
    config, settings = config_of(request), settings_of(request)
    async with runtime_of(request).db.reader() as db:
        broker = await _broker(request, db)
        search = QueueSearchRepository(db)
        deadline = timedelta(minutes=settings.queue_deadline_minutes)
        try:
            page = await queue.search_queue(search, config, filters=filters, broker=broker.broker,
                                            starting_after=starting_after, limit=settings.page_size,
                                            queue_deadline=deadline)
        except InvalidInput as exc:  # a cursor from elsewhere: the first page, and say so
            error, starting_after = exc, None
            page = await queue.search_queue(search, config, filters=filters, broker=broker.broker,
                                            starting_after=None, limit=settings.page_size, queue_deadline=deadline)

    def queue_url(*, state: str | None = None, after: str | None = None) -> str:
        """A queue link keeping every filter but the one changed."""
        return place(filters.model_copy(update={"state": state}) if state else filters, after=after or "")

    return render(request, template, broker=broker, error=error, filters=filters, page=page, now=config.now(),
                  starting_after=starting_after, place=place(filters), ages=list(queue.AGES),
                  work_statuses=queue.work_statuses(), queue_url=queue_url,
                  live_url=f"{QUEUE_URL}/live{queue_url(after=starting_after)}")


@router.get("/queue", response_class=HTMLResponse)
async def queue_page(request: Request) -> Response:
    return await _queue(request, "queue.html")


@router.get("/queue/live", response_class=HTMLResponse)
async def queue_live(request: Request) -> Response:
    """The part of the queue page that refreshes itself (counts and rows), for htmx."""
    return await _queue(request, "_queue_live.html")


# ── one declaration ───────────────────────────────────────────────────────


async def _declaration(request: Request, declaration_id: str, *, broker: BrokerSession | None = None,
                       status: int = 200, error: SilkgateError | None = None, notice: str | None = None,
                       submitted: dict[str, Any] | None = None) -> Response:
    filters, filter_error = _filters(request)
    settings = settings_of(request)
    async with runtime_of(request).db.reader() as db:
        broker = broker or await _broker(request, db)
        page = await declaration_page(db, config_of(request), declaration_id=declaration_id, broker=broker,
                                      filters=filters, queue_deadline=timedelta(minutes=settings.queue_deadline_minutes))
    return render(request, "declaration.html", broker=broker, status=status, error=error or filter_error,
                  notice=notice, page=page, filters=filters, place=place(filters), submitted=submitted or {},
                  reveal_reasons=REVEAL_REASONS)


@router.get("/declarations/{declaration_id}", response_class=HTMLResponse)
async def declaration_view(request: Request, declaration_id: DeclarationId) -> Response:
    structlog.contextvars.bind_contextvars(declaration_id=declaration_id)
    done = request.query_params.get("done")
    notice = f"action.{done}.done" if done in ACTIONS or done == "reveal" else None
    return await _declaration(request, declaration_id, notice=notice)


def _done(request: Request, declaration_id: str, done: str, anchor: str = "") -> Response:
    filters, _ = _filters(request)
    url = f"{PREFIX}/declarations/{declaration_id}{place(filters, done=done)}{anchor}"
    return RedirectResponse(url, status_code=303)


@router.post("/declarations/{declaration_id}/actions/{action_name}", response_class=HTMLResponse)
async def declaration_action(request: Request, declaration_id: DeclarationId,
                             action_name: Annotated[str, Path(max_length=64)]) -> Response:
    """Run one registry action through its service function, in one transaction with the events it publishes."""
    structlog.contextvars.bind_contextvars(declaration_id=declaration_id)
    form = await request.form()
    runtime, config = runtime_of(request), config_of(request)
    async with runtime.db.reader() as db:
        broker = await _broker(request, db)
    check_csrf(broker.csrf_token, form.get("csrf_token"))
    action = ACTIONS.get(action_name)
    if action is None:
        raise NotFound(f"The console has no action {action_name}", code="action_unknown")
    try:
        values = read_form(action, form)
        async with runtime.db.transaction() as db:
            call = ActionCall(DeclarationRepository(db), config, declaration_id, broker.principal,
                              outbox_emitter(runtime.outbox, db))
            await action.run(call, values)
    except SilkgateError as exc:
        log.info("console.action_refused", action=action_name, code=exc.code, broker=broker.broker)
        return await _declaration(request, declaration_id, broker=broker, status=exc.status, error=exc,
                                  submitted={"action": action_name, **{k: v for k, v in form.items()
                                                                       if k != "csrf_token"}})
    log.info("console.action", action=action_name, broker=broker.broker)
    return _done(request, declaration_id, action_name)


@router.post("/declarations/{declaration_id}/personal-data", response_class=HTMLResponse)
async def reveal(request: Request, declaration_id: DeclarationId) -> Response:
    """Show the declaration's personal data to this broker; the request, with its reason, goes on the audit trail."""
    structlog.contextvars.bind_contextvars(declaration_id=declaration_id)
    form = await request.form()
    runtime = runtime_of(request)
    async with runtime.db.reader() as db:
        broker = await _broker(request, db)
    check_csrf(broker.csrf_token, form.get("csrf_token"))
    reason_code = str(form.get("reason_code") or "")
    note = str(form.get("note") or "").strip()[:2000] or None
    try:
        if reason_code not in REVEAL_REASONS:
            raise InvalidInput(f"reason_code must be one of {', '.join(REVEAL_REASONS)}", code="value_not_allowed",
                               field="reason_code")
        async with runtime.db.transaction() as db:
            await reveal_personal_data(DeclarationRepository(db), config_of(request), declaration_id,
                                       broker.principal, reason_code=reason_code, note=note)
    except InvalidInput as exc:
        return await _declaration(request, declaration_id, broker=broker, status=exc.status, error=exc,
                                  submitted={"action": "reveal", "reason_code": reason_code, "note": note or ""})
    return _done(request, declaration_id, "reveal", "#parties")


@router.get("/messages/{guid}", response_class=HTMLResponse)
async def message_as_filed(request: Request, guid: Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]) \
        -> Response:
    """A message exactly as filed or received, as plain text (never rendered: it came from outside)."""
    async with runtime_of(request).db.reader() as db:
        await _broker(request, db)
        body = await messages.raw_message(db, guid)
    if body is None:
        raise NotFound(f"No message {guid}", code="message_not_found")
    return Response(body, media_type="text/plain; charset=utf-8",
                    headers={**SECURITY_HEADERS, "Content-Disposition": f'inline; filename="{guid}.txt"'})


@router.get("/receipts/{receipt_id}", response_class=HTMLResponse)
async def receipt_as_received(request: Request, receipt_id: Annotated[int, Path(ge=1, le=2**62)]) -> Response:
    """A receipt exactly as the authority sent it, as plain text."""
    async with runtime_of(request).db.reader() as db:
        await _broker(request, db)
        body = await messages.raw_receipt(db, receipt_id)
    if body is None:
        raise NotFound(f"No receipt {receipt_id}", code="receipt_not_found")
    return Response(body, media_type="text/plain; charset=utf-8",
                    headers={**SECURITY_HEADERS, "Content-Disposition": f'inline; filename="receipt-{receipt_id}.txt"'})


@router.get("/{rest:path}", response_class=HTMLResponse)
async def not_found(rest: str) -> Response:
    raise NotFound("There is no such page in the console", code="page_not_found")
