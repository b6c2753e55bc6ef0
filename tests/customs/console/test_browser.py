"""The brokers' console in a real headless Chromium, against the real processes (shared/stack.py): a merchant's
parcels held by customs before filing, a broker who signs in, finds one, claims it, describes the goods properly and
files it (the sandbox customs authority releases it, never the broker), a second broker who sees it claimed, and the
refusals (a wrong key, a forged form). Screenshots of the queue and a declaration page are saved
as artifacts (the directory is printed; SILKGATE_UPDATE_SCREENSHOTS=1 also refreshes docs/console-*.png).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import httpx
import pytest

from shared.stack import Stack
from tests.customs.console.browser import ROOT, artifacts_dir, chromium, require_chromium
from tests.e2e.journey import order, payment_body
from tests.support import POSTGRES_URL

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

FAST = {
    "SILKGATE_POSTAL_MAX_RECEPTACLE_AGE_S": "1", "SILKGATE_POSTAL_MAX_DISPATCH_AGE_S": "1",
    "SILKGATE_POSTAL_CONSOLIDATION_TICK_S": "0.2", "SILKGATE_POSTAL_HANDOFF_POLL_S": "0.2",
    "SILKGATE_CARRIER_STEP_INTERVAL_S": "0.2", "SILKGATE_CUSTOMS_RANDOM_INSPECTION_RATE": "0",
    "SILKGATE_CUSTOMS_CONSOLE_REFRESH_S": "2",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    require_chromium()
    stack = Stack(tmp_path_factory.mktemp("console-stack"), postgres_url=POSTGRES_URL, extra_env=FAST)
    asyncio.run(stack.start())
    yield stack
    asyncio.run(stack.stop())


@pytest.fixture(scope="module")
def artifacts():
    return artifacts_dir()


def place(stack: Stack, body: dict) -> dict:
    headers = {"Authorization": f"Bearer {stack.keys['merchant']}", "Idempotency-Key": body["merchant_order_no"]}
    response = httpx.post(f"{stack.url('orders')}/v1/orders", json=body, headers=headers, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def wait_order(stack: Stack, order_id: str, *statuses: str, timeout: float = 60) -> dict:
    headers = {"Authorization": f"Bearer {stack.keys['merchant']}"}
    deadline, current = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        current = httpx.get(f"{stack.url('orders')}/v1/orders/{order_id}", headers=headers, timeout=30).json()
        if current["status"] in statuses:
            return current
        time.sleep(0.2)
    raise AssertionError(f"order {order_id} stayed {current.get('status')}, wanted {statuses}")


def declaration_of(stack: Stack, order_id: str) -> dict:
    headers = {"Authorization": f"Bearer {stack.keys['broker']}"}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page = httpx.get(f"{stack.url('customs')}/v1/declarations", params={"order_id": order_id, "needs_broker": True},
                         headers=headers, timeout=30).json()
        if page["data"]:
            return page["data"][0]
        time.sleep(0.2)
    raise AssertionError(f"no declaration waiting for a broker for {order_id}")


def wait_declaration(driver, base: str, declaration_id: str, *statuses: str, timeout: float = 60) -> str:
    """Reload the declaration page until its status is one of `statuses` (the authority answers asynchronously)."""
    from selenium.webdriver.common.by import By

    deadline, current = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        driver.get(f"{base}/console/declarations/{declaration_id}")
        current = driver.find_element(By.ID, "status").get_attribute("data-status")
        if current in statuses:
            return current
        time.sleep(0.5)
    raise AssertionError(f"declaration {declaration_id} stayed {current}, wanted {statuses}")


@pytest.fixture(scope="module")
def held(stack):
    """Parcels customs holds for a broker before filing: vague descriptions, and a payment company's document whose
    payer is not the buyer."""
    gift = place(stack, order("express", name="Gift", hs="950300"))
    sample = place(stack, order("mail", name="Sample", hs="081310", origin="KZ"))  # green lane: first in the queue
    body = order("ecommerce", payment=False)
    mismatch = place(stack, body)
    # The payment company (not the merchant) reports the payment: someone else paid, the documents disagree.
    provider = {"Authorization": f"Bearer {stack.keys['payment']}"}
    response = httpx.post(f"{stack.url('orders')}/v1/orders/{mismatch['id']}/payment", headers=provider,
                          json=payment_body(body, payer="Zhang Wei"), timeout=30)
    assert response.status_code == 201, response.text
    orders = {"gift": gift, "sample": sample, "mismatch": mismatch}
    for placed in orders.values():
        wait_order(stack, placed["id"], "on_hold")
    return {name: {"order": placed, "declaration": declaration_of(stack, placed["id"])}
            for name, placed in orders.items()}


def wait(driver, condition, timeout: float = 20):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def by_id(driver, element_id: str):
    from selenium.webdriver.common.by import By

    return wait(driver, lambda d: d.find_element(By.ID, element_id))


def text_of(driver, element_id: str) -> str:
    return by_id(driver, element_id).text


def press(driver, keys: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.TAG_NAME, "body").send_keys(keys)


def sign_in(driver, base: str, key: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/console/queue")
    wait(driver, lambda d: "/console/sign-in" in d.current_url)
    field = by_id(driver, "key")
    field.clear()
    field.send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "#sign-in-form button[type=submit]").click()


def screenshot(driver, artifacts: Path, name: str) -> Path:
    path = artifacts / f"console-{name}.png"
    driver.save_screenshot(str(path))
    if os.environ.get("SILKGATE_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(path, ROOT / "docs" / path.name)
    return path


def test_a_broker_works_the_queue_in_a_real_browser(stack, held, artifacts, capsys):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base = stack.url("customs")
    gift = held["gift"]["declaration"]
    with chromium() as driver, chromium() as other:
        # A merchant's key is refused, with the reason on the page.
        sign_in(driver, base, stack.keys["merchant"])
        assert text_of(driver, "error") == "This key is unknown or has been revoked."  # merchant keys live in orders
        sign_in(driver, base, stack.keys["ops"])
        assert text_of(driver, "error") == "The console is for customs brokers: this key cannot sign in."
        sign_in(driver, base, stack.keys["broker"])
        wait(driver, lambda d: d.current_url.endswith("/console/queue"))
        assert text_of(driver, "who") == "Signed in as broker-1"
        rows = driver.find_elements(By.CSS_SELECTOR, "#queue-table tbody tr")
        held_ids = {entry["declaration"]["id"] for entry in held.values()}
        assert held_ids <= {row.get_attribute("data-id") for row in rows}
        queue_shot = screenshot(driver, artifacts, "queue")

        # Find the held gift by its order number, open it from the keyboard.
        search = by_id(driver, "search")
        search.send_keys(gift["merchant_order_no"])
        search.submit()
        wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#queue-table tbody tr")) == 1)
        press(driver, "j")
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#queue-table tr.selected"))
        press(driver, "\n")
        wait(driver, lambda d: f"/console/declarations/{gift['id']}" in d.current_url)
        assert text_of(driver, "status") == "Held before filing · CEB 1"
        assert "Jonas Weber" not in driver.page_source  # personal data masked until asked for

        # Claim with "c"; a second broker then sees it claimed, read-only.
        press(driver, "c")
        wait(driver, lambda d: d.find_elements(By.ID, "claimed-by-me"))
        sign_in(other, base, stack.keys["broker2"])
        wait(other, lambda d: d.current_url.endswith("/console/queue"))
        other.get(f"{base}/console/declarations/{gift['id']}")
        assert text_of(other, "claimed-by-other").startswith("Claimed by broker-1 until")
        assert not other.find_elements(By.CSS_SELECTOR, "form.action")

        # The broker describes the goods properly and gives the toy car its full HS code (the amend form), then
        # files with "f": reason, submit.
        driver.find_element(By.NAME, "lines-1-name").clear()
        driver.find_element(By.NAME, "lines-1-name").send_keys("Plastic toy car")
        driver.find_element(By.NAME, "lines-1-hs_code").clear()
        driver.find_element(By.NAME, "lines-1-hs_code").send_keys("9503002100")
        Select(driver.find_element(By.ID, "amend-reason_code")).select_by_value("description_corrected")
        driver.find_element(By.CSS_SELECTOR, "#action-amend button[type=submit]").click()
        wait(driver, lambda d: "done=amend" in d.current_url)
        assert "Plastic toy car" in driver.page_source and "9503002100" in driver.page_source
        press(driver, "f")
        reason = wait(driver, lambda d: d.switch_to.active_element)
        assert reason.get_attribute("name") == "reason_code"
        Select(reason).select_by_value("amended")
        driver.find_element(By.ID, "file-note").send_keys("Toy car, as photographed")
        driver.find_element(By.CSS_SELECTOR, "#action-file button[type=submit]").click()
        wait(driver, lambda d: "done=file" in d.current_url)
        assert not driver.find_elements(By.ID, "action-release")  # a broker files; only the authority releases
        # The customs authority (the sandbox in the stack) answers the filing: accepted, then released.
        wait_declaration(driver, base, gift["id"], "released", "closed")
        assert text_of(driver, "status") in ("Released · CEB 800", "Closed · CEB 899")
        # The merchant's order moves on through the real pipeline: released, handed to the carrier.
        wait_order(stack, held["gift"]["order"]["id"], "released", "handed_off", "in_transit", "delivered")

        # The documents side by side: the payer who is not the buyer is highlighted.
        mismatch = held["mismatch"]["declaration"]
        driver.get(f"{base}/console/declarations/{mismatch['id']}")
        flagged = driver.find_elements(By.CSS_SELECTOR, "table.compare tr.disagree")
        assert "buyer_name" in [row.get_attribute("data-row") for row in flagged]
        declaration_shot = screenshot(driver, artifacts, "declaration")

        # A forged form (another token) is refused and changes nothing.
        sample = held["sample"]["declaration"]
        driver.get(f"{base}/console/declarations/{sample['id']}")
        driver.execute_script("document.querySelector('#action-claim input[name=csrf_token]').value = 'forged';")
        driver.find_element(By.CSS_SELECTOR, "#action-claim button[type=submit]").click()
        wait(driver, lambda d: d.find_elements(By.ID, "error"))
        assert "did not come from your current session" in text_of(driver, "error")
        driver.get(f"{base}/console/declarations/{sample['id']}")
        assert driver.find_elements(By.ID, "claim-free")

        # Every label switches to Chinese.
        driver.find_element(By.CSS_SELECTOR, "[data-language=zh]").click()
        wait(driver, lambda d: "认领" in d.page_source)
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
        screenshot(driver, artifacts, "declaration-zh")

        # /docs renders without internet: Swagger UI comes from the service.
        driver.get(f"{base}/docs")
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".swagger-ui .info .title"))
    with capsys.disabled():
        print(f"\nconsole screenshots: {queue_shot.parent} ({queue_shot.name}, {declaration_shot.name})")
    assert queue_shot.stat().st_size > 10_000 and declaration_shot.stat().st_size > 10_000


def test_the_queue_refreshes_itself_and_keeps_the_brokers_place(stack, held):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    base = stack.url("customs")
    with chromium() as driver:
        sign_in(driver, base, stack.keys["broker2"])
        wait(driver, lambda d: d.current_url.endswith("/console/queue"))
        press(driver, "jj")
        selected = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#queue-table tr.selected"))
        chosen = selected.get_attribute("data-id")
        # A parcel arrives; the page shows it within a refresh (2 s here), the broker's selection still on its row.
        newcomer = place(stack, order("express", name="Parts", hs="847330"))
        wait_order(stack, newcomer["id"], "on_hold")
        new_id = declaration_of(stack, newcomer["id"])["id"]
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f"#queue-table tr[data-id='{new_id}']"), timeout=30)
        assert driver.find_element(By.CSS_SELECTOR, "#queue-table tr.selected").get_attribute("data-id") == chosen
        with pytest.raises(StaleElementReferenceException):
            selected.get_attribute("data-id")  # the rows were replaced by the refresh; the selection was carried over
