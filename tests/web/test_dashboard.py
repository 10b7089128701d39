"""The dashboard end to end, in headless chromium against a real server of the repository's app.

An operator signs in with the admin key (after a wrong one is refused), browses the
products table and pages through it, edits a product's title while a shopper's page
shows it change live, sees a schema violation refused with its message, runs a function
with arguments, watches the shopper's executions (and a learning run's warning) arrive
in the logs, schedules a function and cancels it, uploads and deletes an image, and
looks at the server's health; the link `prefmem dashboard` prints signs a browser in once.
Screenshots of every view go to test-artifacts/dashboard/.
The system functions' refusal of everyone without the key: tests/e2e/test_dashboard.py.
"""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import time

import pytest
from playwright.sync_api import Page, expect

from tests.helpers.server import ROOT, RunningServer, free_port
from tests.web.conftest import WEB_DIST
from tests.web.test_page import sign_up

DASHBOARD_DIST = ROOT / "dashboard" / "dist"
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
SEED_PRODUCTS = 120
VIEWPORT = {"width": 1280, "height": 800}
# A 16×16 image, so the Files view has a preview to show.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAABz0lEQVR42g3LIc5GAAAA0P8k3wEcwAEcwESTJBNNkkw0STLxTZJMNEky2Yl+r7+/XyJI"
    "hIkoESeyRJGoE21iSEyJJbElzsSdeBN/v1SQClNRKk5lqSJVp9rUkJpSS2pLnak79aZfyAW5MBfl4lyWK3J1rs0NuSm35Lbcmbtzb/6FUlAKS1EpLmWl"
    "olSX2tJQmkpLaSudpbv0ll+oBJWwElXiSlYpKnWlrQyVqbJUtspZuStv9YVG0AgbUSNuZI2iUTfaxtCYGktja5yNu/E2X+gEnbATdeJO1ik6daftDJ2p"
    "s3S2ztm5O2/3hV7QC3tRL+5lvaJX99re0Jt6S2/rnb279/ZfGAWjcBSN4lE2Kkb1qB0No2m0jLbRObpH7/iFWTALZ9EsnmWzYlbP2tkwm2bLbJuds3v2"
    "zl8gICQiJqOgpmVgYmHj5Ob1hVWwClfRKl5lq2JVr9rVsJpWy2pbnat79a5f2AW7cBft4l22K3b1rt0Nu2m37Lbdubt37/6FQ3AID9EhPmSH4lAf2sNw"
    "mA7LYTuch/vwHl+4BJfwEl3iS3YpLvWlvQyX6bJctst5uS/v9YVH8Agf0SN+ZI/iUT/ax/CYHstje5yP+/E+/gGXoaQQCeRrpAAAAABJRU5ErkJggg==")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    for built in (WEB_DIST, DASHBOARD_DIST):
        if not (built / "index.html").is_file():
            pytest.fail(f"{built} is not built: run `make test` (it builds web/ and dashboard/)")
    tmp = tmp_path_factory.mktemp("dashboard")
    db = tmp / "data.sqlite3"
    seeded = subprocess.run([sys.executable, "-m", "prefmem", "run", "catalog:seed_if_empty",
                             f'{{"count": {SEED_PRODUCTS}}}', "--db", str(db)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert seeded.returncode == 0, seeded.stderr
    # An external learner that is never there: every learning run logs a warning and falls
    # back to the built-in model, which gives the logs view a line to show as it arrives.
    env = {"PREFMEM_EXTERNAL_LEARNER_URL": f"http://127.0.0.1:{free_port()}/learn",
           "PREFMEM_EXTERNAL_LEARNER_TIMEOUT": "0.5"}
    running = RunningServer(ROOT, db, extra=["--web", str(WEB_DIST)], env=env, log=tmp / "server.log").start()
    yield running
    running.stop()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def first_row_id(page: Page) -> str:
    return page.locator("table.grid tbody tr").first.get_attribute("data-id")


def test_operator_journey(server, browser):
    errors: list[str] = []
    key = (server.db.parent / "admin_key").read_text().strip()

    # ---------------------------------------------------------------- a shopper, browsing
    shopper = browser.new_context(viewport=VIEWPORT).new_page()
    shopper.on("pageerror", lambda e: errors.append(f"shop: {e}"))
    shopper.goto(server.url + "/")
    sign_up(shopper, f"dashboard-{int(time.time() * 1000)}@example.com")
    card = shopper.locator("ul.grid article.product").first
    expect(card).to_be_visible(timeout=15_000)
    product_id = card.get_attribute("data-product-id")
    shopper.evaluate("window.__notReloaded = true")

    # ---------------------------------------------------------------- signing in
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.on("pageerror", lambda e: errors.append(f"dashboard: {e}"))
    page.goto(server.url + "/_dashboard/")
    page.get_by_label("Admin key").fill("prefmem-admin|" + "0" * 64)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("This is not the admin key of this server.")
    page.get_by_label("Admin key").fill(key)
    shot(page, "01-sign-in")
    page.get_by_role("button", name="Sign in").click()

    # ---------------------------------------------------------------- browsing a table, paging
    tables = page.get_by_role("complementary", name="Tables")
    expect(tables.get_by_role("link", name=re.compile(r"^products"))).to_be_visible(timeout=15_000)
    expect(tables.locator('[data-table-count="products"]')).to_have_text(str(SEED_PRODUCTS))
    tables.get_by_role("link", name=re.compile(r"^products")).click()
    grid = page.get_by_role("table", name="Documents of products")
    expect(grid.locator("tbody tr")).to_have_count(25)
    first_page = first_row_id(page)
    page.get_by_role("button", name="Next page").click()
    expect(page.get_by_text("Page 2", exact=True)).to_be_visible()
    expect(grid.locator("tbody tr").first).not_to_have_attribute("data-id", first_page)
    second_page = first_row_id(page)
    page.get_by_role("button", name="Previous page").click()
    expect(grid.locator("tbody tr").first).to_have_attribute("data-id", first_page)
    assert second_page != first_page
    grid.locator("tbody tr").nth(2).click()
    expect(page.get_by_role("complementary", name="Document").locator(".doc-id")).to_have_text(
        grid.locator("tbody tr").nth(2).get_attribute("data-id"))
    shot(page, "02-data")
    # Sorted by another index: a column whose field leads an index.
    page.get_by_role("button", name=re.compile(r"^category")).click()
    expect(page.get_by_label("Sort by index")).to_have_value("by_category")

    # ---------------------------------------------------------------- editing the shopper's product
    page.get_by_role("button", name="Add filter").click()
    page.get_by_label("Filter field").fill("_id")
    page.get_by_label("Filter value").fill(product_id)
    page.get_by_role("button", name="Apply filters").click()
    expect(grid.locator("tbody tr")).to_have_count(1)
    grid.locator(f'tbody tr[data-id="{product_id}"]').click()
    document = page.get_by_role("complementary", name="Document")
    expect(document.locator(".doc-id")).to_have_text(product_id)
    new_title = f"Dashboard-edited coat {int(time.time())}"
    document.get_by_role("button", name="Edit title").click()
    document.get_by_label("New value of title").fill(f'"{new_title}"')
    document.get_by_role("button", name="Save").click()
    expect(document.locator('[data-field="title"] .json')).to_have_text(f'"{new_title}"')
    expect(grid.locator(f'tbody tr[data-id="{product_id}"] td[data-field="title"]')).to_have_text(new_title)
    # The shopper's page shows it without a reload.
    expect(shopper.locator(f'article.product[data-product-id="{product_id}"] .title')).to_contain_text(
        new_title, timeout=15_000)
    assert shopper.evaluate("window.__notReloaded === true"), "the shopper's page reloaded"
    shot(page, "03-document-edited")

    # ---------------------------------------------------------------- a schema violation, refused
    document.get_by_role("button", name="Edit price").click()
    document.get_by_label("New value of price").fill('"cheap"')
    document.get_by_role("button", name="Save").click()
    refusal = document.get_by_role("alert")
    expect(refusal).to_contain_text('in table "products" because it does not match the schema')
    expect(refusal).to_contain_text('Path: .price')
    shot(page, "04-schema-violation")
    document.get_by_role("button", name="Cancel").click()
    expect(document.locator('[data-field="price"] .json')).not_to_have_text('"cheap"')

    # ---------------------------------------------------------------- running a function
    page.goto(server.url + "/_dashboard/#/functions/catalog%3Aget")
    detail = page.get_by_role("region", name="Function catalog:get")
    expect(detail.get_by_role("heading", name="catalog:get")).to_be_visible()
    expect(detail.locator("pre.validator").first).to_contain_text('id: v.id("products")')
    detail.get_by_label("Arguments (JSON; int64 as 42n)").fill(f'{{"id": "{product_id}"}}')
    detail.get_by_role("button", name="Run", exact=True).click()
    result = detail.get_by_role("status", name="Result")
    # The admin has no user identity, and the app's functions want a signed-in shopper...
    expect(result).to_contain_text("Failed")
    expect(result).to_contain_text('"code": "UNAUTHENTICATED"')
    # ... so it runs again as one.
    detail.get_by_label("a user identity").check()
    detail.get_by_label("Identity (subject, issuer and any claims)").fill(
        '{"subject": "operator", "issuer": "https://dashboard.example", "name": "Operator"}')
    detail.get_by_role("button", name="Run", exact=True).click()
    expect(result).to_contain_text("Succeeded")
    expect(result.locator(".value")).to_contain_text(new_title)
    expect(result.locator(".duration")).to_have_text(re.compile(r"\d+(\.\d+)? (ms|s)"))
    shot(page, "05-functions")

    # ---------------------------------------------------------------- logs, live
    page.goto(server.url + "/_dashboard/#/logs")
    log_table = page.get_by_role("table", name="Executions, newest first")
    expect(log_table).to_be_visible()
    shopper.locator(f'article.product[data-product-id="{product_id}"]').get_by_role("button", name="Like").click()
    liked = log_table.locator("tbody tr", has_text="interactions:log").first
    expect(liked).to_be_visible(timeout=15_000)
    learned = log_table.locator("tbody tr", has_text="learning:run").first
    expect(learned).to_contain_text("[WARN] external learner failed", timeout=20_000)
    learned.click()
    execution = page.get_by_role("complementary", name="Execution")
    expect(execution.locator("ol.log-lines")).to_contain_text("using the built-in model")
    shot(page, "06-logs")
    page.get_by_label("Level").select_option("WARN")
    expect(log_table.locator("tbody tr").first).to_contain_text("learning:run")
    expect(log_table.locator("tbody tr", has_text="interactions:log")).to_have_count(0)

    # ---------------------------------------------------------------- scheduling, then cancelling
    page.goto(server.url + "/_dashboard/#/functions/learning%3Adecay")
    detail = page.get_by_role("region", name="Function learning:decay")
    detail.get_by_label("Delay in seconds").fill("3600")
    detail.get_by_role("button", name="Schedule").click()
    job_id = detail.get_by_role("status").locator("code").inner_text(timeout=15_000)
    page.goto(server.url + "/_dashboard/#/schedules")
    jobs = page.get_by_role("table", name="Scheduled functions")
    job = jobs.locator(f'tr[data-id="{job_id}"]')
    expect(job).to_contain_text("learning:decay")
    expect(job).to_contain_text("pending")
    crons = page.get_by_role("table", name="Crons")
    expect(crons.locator('tr[data-cron="decay"]')).to_contain_text("every 6 hours")
    shot(page, "07-schedules")
    job.get_by_role("button", name="Cancel").click()
    job.get_by_role("button", name="Cancel it").click()
    expect(job).to_have_count(0)
    page.get_by_role("tab", name="Canceled").click()
    expect(jobs.locator(f'tr[data-id="{job_id}"]')).to_contain_text("canceled")

    # ---------------------------------------------------------------- files: upload, delete
    page.goto(server.url + "/_dashboard/#/files")
    page.get_by_label("Upload files").set_input_files(files=[{"name": "swatch.png", "mimeType": "image/png",
                                                               "buffer": PNG}])
    uploaded = page.get_by_role("status").filter(has_text="Uploaded swatch.png as ")
    expect(uploaded).to_be_visible(timeout=15_000)
    storage_id = re.search(r"as (\w+)\.", uploaded.inner_text()).group(1)
    row = page.locator(f'table.grid tr[data-id="{storage_id}"]')
    expect(row).to_contain_text("image/png")
    expect(row).to_contain_text(f"{len(PNG)} B")
    expect(row.get_by_role("img")).to_have_js_property("naturalWidth", 16)
    shot(page, "08-files")
    row.get_by_role("button", name="Delete").click()
    row.get_by_role("button", name="Delete for good").click()
    expect(row).to_have_count(0)

    # ---------------------------------------------------------------- health
    page.goto(server.url + "/_dashboard/#/health")
    expect(page.locator('[data-fact="Connections"] dd')).to_have_text(re.compile(r"^[1-9]"))
    expect(page.get_by_role("figure", name="Commits per second")).to_be_visible()
    shot(page, "09-health")

    # ---------------------------------------------------------------- the one-time link of `prefmem dashboard`
    printed = subprocess.run([sys.executable, "-m", "prefmem", "dashboard", "--db", str(server.db)], cwd=ROOT,
                             capture_output=True, text=True, timeout=30)
    assert printed.returncode == 0, printed.stderr
    link = printed.stdout.strip()
    linked = browser.new_context(viewport=VIEWPORT).new_page()
    linked.on("pageerror", lambda e: errors.append(f"linked: {e}"))
    linked.goto(link)
    expect(linked.get_by_role("complementary", name="Tables")).to_be_visible(timeout=15_000)
    assert "login=" not in linked.url
    assert linked.evaluate("localStorage.getItem('prefmem.dashboard.adminKey')") == key
    spent = browser.new_context(viewport=VIEWPORT).new_page()
    spent.goto(link)
    expect(spent.get_by_role("alert")).to_contain_text("already used or has expired")

    # ---------------------------------------------------------------- signing out forgets the key
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Admin key")).to_be_visible()
    assert page.evaluate("localStorage.getItem('prefmem.dashboard.adminKey')") is None
    assert not errors, errors
