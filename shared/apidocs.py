"""/docs served offline: Swagger UI's JavaScript and CSS from the package itself, never from a CDN.

FastAPI's default /docs page loads swagger-ui-dist from a CDN, so on a machine without internet it shows a blank
page. Every service serves the copy kept in shared/static/swagger-ui/ (swagger-ui-dist 5 from npm, files unchanged
but for the source-map comment; Swagger UI 5 is the first to render the OpenAPI 3.1 that FastAPI writes). ReDoc is
not offered: its bundle would be a second copy of the same job.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

SWAGGER_UI_DIR = Path(__file__).resolve().parent / "static" / "swagger-ui"
ASSETS_PATH = "/docs/assets"
# validatorUrl None: Swagger UI would otherwise ask validator.swagger.io for a badge (a request to the internet).
SWAGGER_UI_PARAMETERS = {"dom_id": "#swagger-ui", "layout": "BaseLayout", "deepLinking": True,
                         "showExtensions": True, "showCommonExtensions": True, "validatorUrl": None}


def install_offline_docs(app: FastAPI, *, docs_url: str = "/docs") -> None:
    """Serve Swagger UI at `docs_url` with its assets under /docs/assets (build the app with docs_url=None)."""
    app.mount(ASSETS_PATH, StaticFiles(directory=SWAGGER_UI_DIR), name="swagger-ui-assets")
    redirect_url = app.swagger_ui_oauth2_redirect_url

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} — API",
            oauth2_redirect_url=redirect_url, swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css", swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )

    if redirect_url:
        @app.get(redirect_url, include_in_schema=False)
        async def swagger_ui_redirect() -> HTMLResponse:
            return get_swagger_ui_oauth2_redirect_html()
