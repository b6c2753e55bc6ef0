"""Signing in to the console: a broker key for a session cookie, CSRF on every form, wrong roles and dead sessions
refused, signing out."""

from __future__ import annotations

import pytest

from tests.customs.broker import file_held
from tests.customs.console.pages import ConsoleClient, csrf_token, element_text
from tests.support import create_api_key


@pytest.fixture
async def browser(customs):
    client = ConsoleClient.of(customs)
    yield client
    await client.close()


async def broker_key(customs, owner: str = "Kashgar Brokerage") -> str:
    return await create_api_key(customs.app, role="broker", owner=owner, name=f"{owner} key")


async def test_pages_send_a_visitor_without_a_session_to_sign_in(customs, browser):
    for url in ("/console/queue", "/console/queue?channel=mail", "/console/declarations/dcl_x"):
        response = await browser.get(url)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/console/sign-in?next=%2Fconsole%2F")
    live = await browser.get("/console/queue/live", headers={"HX-Request": "true"})
    assert live.headers["HX-Redirect"].startswith("/console/sign-in")  # htmx loads the page, not a fragment


async def test_a_broker_key_signs_in_with_a_session_cookie(customs, browser):
    key = await broker_key(customs)
    response = await browser.sign_in(key, next_url="/console/queue?channel=mail")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/queue?channel=mail"  # back where the broker was going
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("silkgate_console="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "samesite", "max-age", "path"} <= attributes
    assert "samesite=strict" in cookie.lower() and "path=/console" in cookie.lower()
    assert "secure" not in attributes  # plain http here; see the https test below
    assert key not in cookie  # the cookie carries a session token, never the key
    page = await browser.get("/console/queue")
    assert page.status_code == 200
    assert element_text(page.text, "who") == "Signed in as Kashgar Brokerage"
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


async def test_the_cookie_is_secure_over_https(customs):
    key = await broker_key(customs)
    import httpx

    transport = httpx.ASGITransport(app=customs.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://console.test") as https:
        browser = ConsoleClient(https)
        response = await browser.sign_in(key)
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("silkgate_console="))
    assert "secure" in {part.strip().lower() for part in cookie.split(";")}


@pytest.mark.parametrize("role", ["merchant", "carrier", "ops", "authority"])
async def test_keys_of_other_roles_are_refused(customs, browser, role):
    key = await create_api_key(customs.app, role=role, owner="someone", name="not a broker")
    response = await browser.sign_in(key)
    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"]
    assert element_text(response.text, "error") == "The console is for customs brokers: this key cannot sign in."
    assert "silkgate_console=" not in "".join(response.headers.get_list("set-cookie"))
    assert (await browser.get("/console/queue")).status_code == 303  # still signed out


async def test_an_unknown_or_revoked_key_is_refused(customs, browser):
    response = await browser.sign_in("sg_broker_not-a-key")
    assert response.status_code == 401
    assert element_text(response.text, "error") == "This key is unknown or has been revoked."
    assert "Traceback" not in response.text


async def test_sign_in_without_the_form_token_is_refused(customs, browser):
    key = await broker_key(customs)
    await browser.get("/console/sign-in")  # the form's cookie, but a forged form without its token
    response = await browser.http.post("/console/sign-in", data={"key": key, "csrf_token": "forged"})
    assert response.status_code == 403
    assert "did not come from your current session" in element_text(response.text, "error")
    assert (await browser.get("/console/queue")).status_code == 303


async def test_every_form_needs_the_session_csrf_token(customs, browser):
    declaration = await file_held(customs)
    await browser.sign_in(await broker_key(customs))
    page = f"/console/declarations/{declaration.id}"
    for url, data in [(f"{page}/actions/claim", {}),
                      (f"{page}/personal-data", {"reason_code": "verify_identity"}),
                      ("/console/sign-out", {})]:
        for token in (None, "forged"):
            form = {**data, **({"csrf_token": token} if token else {})}
            response = await browser.http.post(url, data=form)
            assert response.status_code == 403, (url, response.text)
            assert "did not come from your current session" in element_text(response.text, "error")
    stored = await customs.declaration(declaration.order_id)
    assert stored.claimed_by is None  # the forged claim did nothing
    assert (await browser.get("/console/queue")).status_code == 200  # nor did the forged sign-out


async def test_another_sessions_token_is_refused(customs, browser):
    declaration = await file_held(customs)
    other = ConsoleClient.of(customs)
    await browser.sign_in(await broker_key(customs))
    await other.sign_in(await broker_key(customs, "Other Brokerage"))
    their_token = csrf_token((await other.get("/console/queue")).text)
    response = await browser.http.post(f"/console/declarations/{declaration.id}/actions/claim",
                                       data={"csrf_token": their_token})
    assert response.status_code == 403
    await other.close()


async def test_a_session_expires(customs, browser):
    await browser.sign_in(await broker_key(customs))
    assert (await browser.get("/console/queue")).status_code == 200
    customs.clock.advance(hours=8, seconds=1)  # one shift (SILKGATE_CUSTOMS_CONSOLE_SESSION_TTL_S)
    response = await browser.get("/console/queue")
    assert response.status_code == 303
    assert "ended=1" in response.headers["location"]
    page = await browser.get(response.headers["location"])
    assert element_text(page.text, "notice") == "Your session has ended. Sign in again."


async def test_revoking_the_key_ends_its_sessions(customs, browser):
    from shared.auth import hash_key

    key = await broker_key(customs)
    await browser.sign_in(key)
    runtime = customs.runtime
    async with runtime.db.reader() as session:
        principal = await runtime.api_keys.find_active(session, key)
    async with runtime.db.transaction() as session:
        await runtime.api_keys.revoke(session, principal.key_id)
    assert hash_key(key)  # the key itself is never stored, only its hash
    assert (await browser.get("/console/queue")).status_code == 303


async def test_signing_out_ends_the_session_on_the_server(customs, browser):
    await browser.sign_in(await broker_key(customs))
    cookie = browser.http.cookies.get("silkgate_console")
    response = await browser.post_form("/console/sign-out", {}, from_page="/console/queue")
    assert response.status_code == 303 and response.headers["location"] == "/console/sign-in?signed_out=1"
    # The old cookie, replayed, opens nothing: the session is gone from the table.
    replay = ConsoleClient.of(customs)
    replay.http.cookies.set("silkgate_console", cookie, path="/console")
    assert (await replay.get("/console/queue")).status_code == 303
    await replay.close()


async def test_the_language_switch_keeps_the_page_and_changes_every_label(customs, browser):
    await browser.sign_in(await broker_key(customs))
    english = await browser.get("/console/queue")
    assert "Needs a broker" in english.text
    response = await browser.get("/console/language", params={"to": "zh", "next": "/console/queue?channel=mail"})
    assert response.status_code == 303 and response.headers["location"] == "/console/queue?channel=mail"
    chinese = await browser.get("/console/queue?channel=mail")
    assert "待人工处理" in chinese.text and "Needs a broker" not in chinese.text
    assert '<html lang="zh-CN">' in chinese.text
    # Somewhere else than the console is never a place to go back to.
    for target in ("https://evil.example/", "//evil.example/console/", "/console/\\evil"):
        away = await browser.get("/console/language", params={"to": "en", "next": target})
        assert away.headers["location"] == "/console/queue"


async def test_errors_are_pages_not_stack_traces(customs, browser):
    await browser.sign_in(await broker_key(customs))
    missing = await browser.get("/console/declarations/dcl_000000000000000000000000")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    assert element_text(missing.text, "error") == "There is no such declaration."
    nowhere = await browser.get("/console/no/such/page")
    assert nowhere.status_code == 404 and element_text(nowhere.text, "error") == "There is no such page in the console."
    bad_id = await browser.get("/console/declarations/<script>")
    assert bad_id.status_code == 422 and "<script>" not in bad_id.text.split("<main>")[1]
