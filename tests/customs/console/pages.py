"""Helpers for the console's route tests: a browser-like client (its own cookies) and what a page contains."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import httpx

_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_token(page: str) -> str:
    """The first form's CSRF token on a page."""
    match = _CSRF.search(page)
    assert match, "no form with a CSRF token on this page"
    return html.unescape(match.group(1))


def element_text(page: str, element_id: str) -> str | None:
    """The text inside the element with this id (tags stripped), or None when there is none."""
    match = re.search(rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"[^>]*>(.*?)</\1>', page, re.S)
    if match is None:
        return None
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group(2))).split())


@dataclass
class ConsoleClient:
    """One browser: its own cookie jar, on the customs app's in-process transport."""

    http: httpx.AsyncClient

    @classmethod
    def of(cls, customs) -> ConsoleClient:
        transport = httpx.ASGITransport(app=customs.app, raise_app_exceptions=False)
        return cls(httpx.AsyncClient(transport=transport, base_url="http://test"))

    async def close(self) -> None:
        await self.http.aclose()

    async def get(self, url: str, **kwargs) -> httpx.Response:
        return await self.http.get(url, **kwargs)

    async def sign_in(self, key: str, *, next_url: str | None = None) -> httpx.Response:
        """Open the sign-in page (for its form token) and submit the key; the answer is not followed."""
        form_page = await self.http.get("/console/sign-in")
        assert form_page.status_code == 200, form_page.text
        data = {"csrf_token": csrf_token(form_page.text), "key": key}
        if next_url:
            data["next"] = next_url
        return await self.http.post("/console/sign-in", data=data)

    async def post_form(self, url: str, data: dict[str, str], *, from_page: str) -> httpx.Response:
        """Submit a form as the page at `from_page` would, with that page's CSRF token."""
        page = await self.http.get(from_page)
        assert page.status_code == 200, page.text
        return await self.http.post(url, data={"csrf_token": csrf_token(page.text), **data})
