"""/docs works without internet on every service: Swagger UI's assets come from the package (shared/apidocs.py)."""

from __future__ import annotations

import re

import httpx
import pytest

from services.carrier.app import create_app as carrier_app
from services.customs.app import create_app as customs_app
from services.orders.app import create_app as orders_app
from services.postal.app import create_app as postal_app

APPS = {"orders": orders_app, "customs": customs_app, "postal": postal_app, "carrier": carrier_app}


@pytest.mark.parametrize("service", sorted(APPS))
async def test_docs_load_every_asset_from_the_service_itself(service, tmp_path):
    app = APPS[service]()  # building an app does no I/O: no lifespan needed to serve its docs
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        page = await client.get("/docs")
        assert page.status_code == 200
        assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
        assert sorted(assets) == ["/docs/assets/favicon-32x32.png", "/docs/assets/swagger-ui-bundle.js",
                                  "/docs/assets/swagger-ui.css"]
        assert not re.search(r"https?://", page.text.split("<script>", 1)[-1].replace("http://svc", ""))
        assert '"validatorUrl": null' in page.text  # no badge fetched from validator.swagger.io
        for asset in assets:
            response = await client.get(asset)
            assert response.status_code == 200, asset
        bundle = await client.get("/docs/assets/swagger-ui-bundle.js")
        assert "javascript" in bundle.headers["content-type"] and len(bundle.content) > 1_000_000
        assert (await client.get("/openapi.json")).json()["openapi"].startswith("3.1")
        assert (await client.get("/redoc")).status_code == 404  # ReDoc's CDN bundle is not offered
