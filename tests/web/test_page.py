"""The shopper page end to end, in headless chromium against a real server.

One shopper's journey (sign up, like and save items of one style, watch the profile learn
it live in a second tab, pin / remove / ban / budget / size, a search re-ranking, the
personalisation switch, export, a server restart mid-session, account deletion), and a
second shopper in another browser context who sees none of it. Screenshots of every page
go to test-artifacts/web/.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter

from playwright.sync_api import Page, expect

PASSWORD = "correct horse battery staple"
DESKTOP = {"width": 1200, "height": 900}
PHONE = {"width": 390, "height": 844}


def shot(page: Page, artifacts, name: str, full: bool = True) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=full)


def sign_up(page: Page, email: str) -> None:
    page.get_by_role("tab", name="Create account").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Shop", level=1)).to_be_visible(timeout=15_000)


def token_of(page: Page) -> str:
    return page.evaluate("JSON.parse(localStorage.getItem('prefmem.session')).token")


def search(page: Page, query: str) -> None:
    box = page.get_by_label("Search the catalogue")
    box.fill(query)
    box.press("Enter")  # the keyboard submits the search form
    expect(page.locator(".result-summary")).to_contain_text(f"for “{query}”", timeout=15_000)


def results(page: Page) -> list[dict]:
    """The search results on the page, in order: product id and styles."""
    return page.locator("ol.grid article.product").evaluate_all(
        "els => els.map(e => ({id: e.dataset.productId,"
        " styles: [...e.querySelectorAll('.tag.style')].map(t => t.textContent)}))")


def wait_for(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def ids(value) -> list[str]:
    return [r["product"]["_id"] for r in value["results"]]


def card(page: Page, product_id: str):
    return page.locator(f'article.product[data-product-id="{product_id}"]')


def style_row(page: Page, style: str):
    return page.locator(f'[data-facet="style"] li[data-value="{style}"]')


def test_shopper_journey(page_server, browser, artifacts):
    errors: list[str] = []
    ctx = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    console: list[str] = []  # kept as an artefact if signing in fails
    ctx.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    shop = ctx.new_page()
    shop.on("pageerror", lambda e: errors.append(str(e)))
    stamp = int(time.time() * 1000)
    email = f"ada-{stamp}@example.com"

    # ---------------------------------------------------------------- sign up, browse
    shop.goto(page_server.url + "/")
    expect(shop.get_by_role("heading", name="Sign in to your account")).to_be_visible()
    shot(shop, artifacts, "01-sign-in")
    sign_up(shop, email)
    expect(shop.locator("ul.grid article.product").first).to_be_visible(timeout=15_000)
    shot(shop, artifacts, "02-shop-browse", full=False)

    # A second tab of the same shopper, on the profile page: it must update live.
    profile = ctx.new_page()
    profile.on("pageerror", lambda e: errors.append(str(e)))
    profile.goto(page_server.url + "/#/profile")
    expect(profile.get_by_role("heading", name="Your profile")).to_be_visible(timeout=15_000)
    expect(profile.get_by_text("Nothing learned about your style preferences yet.")).to_be_visible()
    profile.evaluate("window.__notReloaded = true")

    # ---------------------------------------------------------------- search, pick a style
    query = "dress"
    search(shop, query)
    expect(shop.locator("ol.grid article.product").first).to_be_visible()
    before = results(shop)
    assert len(before) >= 12, before
    counts = Counter(s for r in before for s in r["styles"])
    # The style with enough items below the top that is rarest at the top: it must climb.
    candidates = [s for s, n in counts.items() if sum(s in r["styles"] for r in before[6:]) >= 4]
    assert candidates, counts
    style = min(candidates, key=lambda s: (sum(s in r["styles"] for r in before[:6]), -counts[s]))
    top_before = sum(style in r["styles"] for r in before[:6])
    picks = [r["id"] for r in before[6:] if style in r["styles"]][:4]
    other = next(r["id"] for r in before if style not in r["styles"] and r["id"] not in picks)
    shot(shop, artifacts, "03-search-before-learning", full=False)

    # ---------------------------------------------------------------- like, save, dismiss, buy
    for pid in picks:
        c = card(shop, pid)
        c.get_by_role("button", name="Like").click()
        expect(c.get_by_role("button", name="Liked")).to_be_visible()
        c.get_by_role("button", name="Save", exact=True).click()
        expect(c.get_by_role("button", name="Saved", exact=True)).to_have_attribute("aria-pressed", "true")
    # Dismiss with a reason, by keyboard.
    c = card(shop, other)
    c.get_by_role("button", name="Dismiss…").focus()
    shop.keyboard.press("Enter")
    c.get_by_label("Why are you dismissing it?").select_option(label="Not my style")
    c.get_by_role("button", name="Dismiss", exact=True).focus()
    shop.keyboard.press("Enter")
    expect(shop.get_by_text(re.compile(r"dismissed\. We will show fewer"))).to_be_visible()
    # Buy one of the style's items in a size.
    c = card(shop, picks[0])
    c.get_by_role("button", name="Buy…").click()
    c.get_by_role("button", name=re.compile(r"^Buy for")).click()
    expect(c.get_by_text(re.compile(r"^Bought"))).to_be_visible()

    # ---------------------------------------------------------------- the profile learns, live
    row = style_row(profile, style)
    expect(row).to_be_visible(timeout=20_000)
    expect(row.locator(".evidence")).to_contain_text(re.compile(r"From ([4-9]|\d\d+) items"), timeout=20_000)
    expect(row.locator("meter")).to_be_visible()
    assert profile.evaluate("window.__notReloaded === true"), "the profile tab reloaded"
    shot(profile, artifacts, "04-profile-learned")

    # ---------------------------------------------------------------- the search re-ranks
    def reranked():
        now = results(shop)
        top_now = sum(style in r["styles"] for r in now[:6])
        return now if [r["id"] for r in now] != [r["id"] for r in before] and top_now > top_before else None

    after = wait_for(reranked, what=f"the “{query}” results to re-rank towards {style}")
    expect(shop.locator(".result-summary")).to_contain_text("ranked for you")
    reasons = shop.locator("ol.grid .reasons li").all_text_contents()
    assert any(style in r for r in reasons), reasons
    shot(shop, artifacts, "05-search-personalised", full=False)

    # ---------------------------------------------------------------- saved items
    shop.goto(page_server.url + "/#/saved")
    expect(shop.get_by_role("heading", name="Saved items")).to_be_visible()
    expect(shop.get_by_role("list", name="Saved items").get_by_role("listitem")).to_have_count(len(picks))
    expect(shop.get_by_role("list", name="Purchases").get_by_role("listitem")).to_have_count(1)
    shot(shop, artifacts, "06-saved")

    # ---------------------------------------------------------------- pin, remove, ban, budget, size
    row.get_by_role("button", name=f"Pin {style}: always").click()
    expect(row).to_have_attribute("data-state", "pinned", timeout=2_000)
    expect(row.locator(".badge")).to_have_text("Always")
    colour = profile.locator('[data-facet="color"] li.value').first
    colour_name = colour.get_attribute("data-value")
    colour.get_by_role("button", name=f"Remove {colour_name}: not me").click()
    expect(profile.locator(f'[data-facet="color"] li[data-value="{colour_name}"]')).to_have_attribute(
        "data-state", "removed", timeout=2_000)
    brand = profile.locator('[data-facet="brand"] li.value').first
    brand_name = brand.get_attribute("data-value")
    brand.get_by_role("button", name=f"Ban {brand_name}: never").click()
    expect(profile.locator(f'[data-facet="brand"] li[data-value="{brand_name}"]')).to_have_attribute(
        "data-state", "never", timeout=2_000)
    budget = profile.locator('[data-section="budget"]')
    budget.get_by_label("Category", exact=True).select_option("dresses")
    budget.get_by_label("From €").fill("30")
    budget.get_by_label("to €").fill("140")
    budget.get_by_role("button", name="Set budget").click()
    expect(budget.locator('li[data-category="dresses"]')).to_contain_text("Set by you", timeout=2_000)
    size = profile.locator('[data-section="size"]')
    size.get_by_label("Category", exact=True).select_option("dresses")
    size.get_by_label("Size", exact=True).fill("38")
    size.get_by_role("button", name="Set size").click()
    expect(size.locator('li[data-category="dresses"]')).to_contain_text("Size 38", timeout=2_000)
    # What the page showed at once is what the server stored.
    token = token_of(profile)

    def stored():
        p = page_server.call("query", "preferences:get", {}, token)
        states = {(f, v["value"]): v["state"] for f, vs in p["facets"].items() for v in vs}
        ok = (states.get(("style", style)) == "pinned" and states.get(("color", colour_name)) == "removed"
              and states.get(("brand", brand_name)) == "never"
              and p["budget"].get("dresses", {}).get("source") == "user" and p["size"].get("dresses", {}).get("size") == "38")
        return p if ok else None

    wait_for(stored, 10, "the profile edits to be stored")
    expect(row).to_have_attribute("data-state", "pinned")
    shot(profile, artifacts, "07-profile-edited")

    # ---------------------------------------------------------------- personalisation off
    shop.goto(page_server.url + "/#/")
    search(shop, query)
    shop.get_by_role("switch", name="Personalise results").click()
    expect(shop.locator(".result-summary")).to_contain_text("plain relevance order", timeout=15_000)
    # ...shown live in the other tab too.
    expect(profile.get_by_role("switch", name="Personalise results")).not_to_be_checked(timeout=5_000)
    plain = ids(page_server.call("action", "search:personalized", {"query": query, "limit": 24, "personalize": False},
                                 token))
    personal = ids(page_server.call("action", "search:personalized", {"query": query, "limit": 24}, token))
    wait_for(lambda: [r["id"] for r in results(shop)] == plain, 10, "the unpersonalised order")
    assert plain != [r["id"] for r in after]
    shot(shop, artifacts, "08-personalisation-off", full=False)
    shop.get_by_role("switch", name="Personalise results").click()
    expect(shop.locator(".result-summary")).to_contain_text("ranked for you", timeout=15_000)
    assert personal == plain  # with the shopper's switch off, every search is unpersonalised
    # (with it back on, the personalised order returns)
    wait_for(lambda: [r["id"] for r in results(shop)] != plain, 10, "the personalised order again")

    # ---------------------------------------------------------------- a query mostly matching nothing
    # Nothing in the generated catalogue is floral: the page says so above the results, and
    # no result claims to match "floral".
    search(shop, "floral dress")
    notice = shop.get_by_test_id("unmatched-notice")
    expect(notice).to_contain_text("Nothing in the catalogue matches “floral”", timeout=15_000)
    expect(notice).to_contain_text("these results match “dress” only")
    expect(shop.locator("ol.grid article.product").first).to_be_visible()
    floral = shop.locator("ol.grid .reasons li").all_text_contents()
    assert floral and not any("floral" in r for r in floral), floral
    shot(shop, artifacts, "08b-mostly-unmatched", full=False)
    search(shop, query)
    expect(shop.get_by_test_id("unmatched-notice")).to_have_count(0)

    # ---------------------------------------------------------------- export
    with profile.expect_download() as download:
        profile.get_by_role("button", name="Export my data (JSON)").click()
    exported_path = artifacts / "export.json"
    download.value.save_as(str(exported_path))
    exported = json.loads(exported_path.read_text())
    text = json.dumps(exported)
    assert all(pid in text for pid in picks)
    assert email in text
    expect(profile.get_by_text("Your data was exported as a JSON file.")).to_be_visible()
    shot(profile, artifacts, "09-exported", full=False)

    # ---------------------------------------------------------------- another shopper sees nothing of this
    other_ctx = browser.new_context(viewport=PHONE)
    bea = other_ctx.new_page()
    bea.on("pageerror", lambda e: errors.append(str(e)))
    bea.goto(page_server.url + "/")
    sign_up(bea, f"bea-{stamp}@example.com")
    shot(bea, artifacts, "10-phone-shop", full=False)
    bea.get_by_role("link", name="Saved").click()
    expect(bea.get_by_text("Nothing saved yet.")).to_be_visible(timeout=10_000)
    bea.get_by_role("link", name="Profile").click()
    expect(bea.get_by_text("Nothing learned about your style preferences yet.")).to_be_visible(timeout=10_000)
    expect(bea.locator('[data-section="budget"]')).to_contain_text("No budget learned or set yet.")
    expect(bea.locator("li.value")).to_have_count(0)
    assert bea.get_by_role("switch", name="Personalise results").is_checked()
    bea_export = page_server.call("action", "privacy:export", {}, token_of(bea))
    assert not any(pid in json.dumps(bea_export) for pid in picks) and email not in json.dumps(bea_export)
    shot(bea, artifacts, "11-phone-other-shopper-profile")
    other_ctx.close()

    # ---------------------------------------------------------------- the server restarts mid-session
    shop.goto(page_server.url + "/#/saved")
    expect(shop.get_by_role("list", name="Saved items").get_by_role("listitem")).to_have_count(len(picks))
    page_server.kill()
    expect(shop.get_by_text(re.compile("Connection lost. Reconnecting"))).to_be_visible(timeout=15_000)
    # A change made while offline is kept and sent once the connection is back.
    added = next(s for s in ("vintage", "preppy", "glam") if s != style)
    profile.locator('[data-facet="style"]').get_by_label("Add a style you like").fill(added)
    profile.locator('[data-facet="style"]').get_by_role("button", name="Add").click()
    expect(style_row(profile, added)).to_have_attribute("data-state", "pinned")
    shot(shop, artifacts, "12-reconnecting", full=False)
    page_server.start()
    expect(shop.locator(".connection .notice")).to_have_count(0, timeout=30_000)
    expect(profile.locator(".connection .notice")).to_have_count(0, timeout=30_000)
    # Current data: a save made elsewhere after the restart shows up live.
    new_item = next(r["id"] for r in before if r["id"] not in picks)
    page_server.call("mutation", "saved_items:add", {"productId": new_item}, token)
    expect(shop.get_by_role("list", name="Saved items").get_by_role("listitem")).to_have_count(len(picks) + 1,
                                                                                            timeout=15_000)
    wait_for(lambda: any(v["value"] == added and v["state"] == "pinned"
                         for v in page_server.call("query", "preferences:get", {}, token)["facets"]["style"]),
             15, "the offline change to reach the server")
    shot(shop, artifacts, "13-after-restart")

    # ---------------------------------------------------------------- delete the account
    profile.get_by_role("button", name="Delete my account…").click()
    dialog = profile.get_by_role("dialog", name="Delete your account?")
    expect(dialog).to_be_visible()
    confirm = dialog.get_by_role("button", name="Delete my account")
    expect(confirm).to_be_disabled()
    dialog.get_by_label("Type DELETE to confirm").fill("DELETE")
    shot(profile, artifacts, "14-delete-confirm", full=False)
    confirm.click()
    expect(profile.get_by_text("Your account and all its data were deleted.")).to_be_visible(timeout=10_000)
    expect(shop.get_by_role("heading", name="Sign in to your account")).to_be_visible(timeout=10_000)
    shot(profile, artifacts, "15-deleted", full=False)
    shot(shop, artifacts, "16-deleted-other-tab", full=False)
    ctx.close()
    # The sign-in went with the data: the old password is refused, and the email can make a
    # new, empty account.
    again_ctx = browser.new_context(viewport=DESKTOP)
    again_ctx.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    again = again_ctx.new_page()
    again.on("pageerror", lambda e: errors.append(str(e)))
    again.goto(page_server.url + "/")
    again.get_by_label("Email").fill(email)
    again.get_by_label("Password").fill(PASSWORD)
    again.get_by_role("button", name="Sign in", exact=True).click()
    expect(again.get_by_role("alert")).to_contain_text("email or password", timeout=10_000)
    shot(again, artifacts, "17-deleted-sign-in-refused", full=False)
    sign_up(again, email)
    again.goto(page_server.url + "/#/profile")
    try:
        expect(again.get_by_role("heading", name="Your profile", level=1)).to_be_visible(timeout=15_000)
    except AssertionError:
        (artifacts / "console.log").write_text("\n".join(console))
        raise
    expect(again.get_by_text("Nothing learned about your style preferences yet.")).to_be_visible()
    fresh_token = token_of(again)
    assert page_server.call("query", "saved_items:list", {}, fresh_token) == []
    assert all(not vs for vs in page_server.call("query", "preferences:get", {}, fresh_token)["facets"].values())
    again_ctx.close()
    assert not errors, errors
