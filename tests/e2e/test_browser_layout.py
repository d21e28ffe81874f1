"""Every page at three widths, light and dark (#23): nothing wider than the viewport, no
horizontal scroll, the room bar on one line, and axe-core (npm's axe-core, injected by
an init script) finding nothing serious or critical. A screenshot of each page at each
width and theme goes to test-artifacts/screenshots/ for a reviewer to look at. One
daphne for the module, one Chromium per test."""

import contextlib
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, BrowserContext, Page, expect
from playwright.sync_api import Error as PlaywrightError

from accounts import profiles
from accounts import services as account_services
from chat import services
from chat.models import Room, Sanction
from chat.services.tokens import token_create
from tests.conftest import TEST_PASSWORD, session_cookie
from tests.e2e.browser import TIMEOUT_MS, launch_chromium, open_room
from tests.servers import Daphne, daphnes

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
WIDTHS = {"desktop": (1366, 820), "tablet": (768, 1024), "phone": (390, 844)}
THEMES: tuple[Literal["light", "dark"], ...] = ("light", "dark")
LONG_ROOM = "Quarterly planning, retrospectives and everything in between"


@dataclass(frozen=True)
class PageSpec:
    name: str
    path: str
    user: str | None = "alice"  # None: not logged in
    status: int = 200


PAGES = [
    PageSpec("room", "/chat/planning/"),
    PageSpec("browse", "/rooms/"),
    PageSpec("people", "/people/"),
    PageSpec("settings", "/accounts/settings/"),
    PageSpec("notifications", "/notifications/"),
    PageSpec("invitations", "/accounts/invitations/"),
    PageSpec("members", "/chat/team/members/"),
    PageSpec("tokens", "/settings/tokens/"),
    PageSpec("room-create", "/rooms/new/"),
    PageSpec("password-change", "/accounts/password_change/"),
    PageSpec("forbidden", "/chat/design/", user="carol", status=403),  # banned there
    PageSpec("login", "/accounts/login/", user=None),
    PageSpec("signup", "/accounts/signup/", user=None),
]

# Elements wider than the viewport, or sticking out of it, that are not clipped by a
# scrolling or hidden-overflow ancestor inside it; visibility:hidden ones (the folded
# drawer) and empty boxes do not count.
OVERFLOWING_JS = """() => {
  const width = window.innerWidth;
  const clipped = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const s = getComputedStyle(p);
      if (s.overflowX !== "visible" || s.clip !== "auto") {
        const r = p.getBoundingClientRect();
        if (r.left >= -1 && r.right <= width + 1) return true;
      }
    }
    return false;
  };
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
    + (el.classList.length ? "." + [...el.classList].join(".") : "");
  const out = [];
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (r.right <= width + 1 && r.left >= -1) continue;
    if (getComputedStyle(el).visibility === "hidden") continue;
    if (clipped(el)) continue;
    out.push(`${name(el)} [${Math.round(r.left)}, ${Math.round(r.right)}]`);
  }
  return out.slice(0, 10);
}"""

# The room bar: every visible part on one line, and the name one line tall.
ROOM_BAR_JS = """() => {
  const bar = document.getElementById("room-bar");
  const h1 = document.getElementById("room-name");
  const line = parseFloat(getComputedStyle(h1).lineHeight);
  const parts = [...bar.querySelectorAll(":scope > *, .room-head > *")].filter(
    (el) => el.getClientRects().length && getComputedStyle(el).position !== "absolute"
      && !el.classList.contains("visually-hidden"));
  const rects = parts.map((el) => el.getBoundingClientRect()).filter((r) => r.height > 0);
  const lowestTop = Math.max(...rects.map((r) => r.top));
  const highestBottom = Math.min(...rects.map((r) => r.bottom));
  return {
    nameHeight: h1.getBoundingClientRect().height, line,
    oneLine: lowestTop < highestBottom,
    truncated: h1.scrollWidth > h1.clientWidth,
    barHeight: bar.getBoundingClientRect().height,
  };
}"""

AXE_RUN_JS = """async () => {
  const results = await window.axe.run(document, { resultTypes: ["violations"] });
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 4).map((n) => n.target.join(" ")
      + (n.any[0] ? " - " + n.any[0].message : "")).join(" | ")}`);
}"""


@pytest.fixture(scope="module")
def shared_env_extra() -> dict[str, str]:
    return {"CHAT_SIGNUP": "open"}  # the sign-up form itself, not the invitation page


@pytest.fixture(scope="module")
def axe_path() -> Path:
    """npm's axe-core (package-lock.json pins it); installed here when a run picked this
    file in a fresh clone (python -m tests installs it before pytest starts)."""
    if not AXE.exists():
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert AXE.exists(), f"npm ci did not install axe-core: {done.stdout}{done.stderr}"
    return AXE


@pytest.fixture(scope="module")
def layout_server(
    shared_server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Daphne]:
    with daphnes(shared_server_env, tmp_path_factory.mktemp("layout-daphne"), 1) as (server,):
        yield server


def make_world(make_user: Callable[..., User]) -> dict[str, User]:
    """A staff user in a room with a long name, history and a private room she manages;
    carol is banned from Design."""
    alice = make_user("alice", password=TEST_PASSWORD, is_staff=True)
    bob = make_user("bob", password=TEST_PASSWORD)
    carol = make_user("carol", password=TEST_PASSWORD)
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    services.room_create(
        slug="planning", name=LONG_ROOM, topic="Plans, dates and owners", creator=alice
    )
    design = services.room_create(
        slug="design", name="Design", topic="Pixels and words", creator=bob
    )
    services.sanction_create(
        kind=Sanction.Kind.BAN, user=carol, room=design, reason="spam", actor=alice
    )
    team = services.room_create(slug="team", name="Team", topic="", creator=alice, is_private=True)
    services.membership_add(room=team, user=bob, actor=alice)
    services.room_join(user=bob, slug="planning")
    room_id = Room.objects.get(slug="planning").pk
    bodies = [
        "Morning! Agenda for today is in the doc.",
        "https://example.com/a/very/long/link/that/goes/on/and/on/without/any/space/to/break/it",
        "```\nfor item in queue: handle(item)  # a long line of code that must wrap, not widen"
        " the page\n```",
        "@alice can you look at the **roadmap**? _Thanks_",
        "Supercalifragilisticexpialidocious" * 3,
    ]
    for n, body in enumerate(bodies):
        author = bob if n % 2 else alice
        services.message_post(room_id=room_id, author=author, body=body, client_id=f"c{n}")
    token_create(user=alice, name="deploy bot")
    account_services.invitation_create(creator=alice, note="for the new designer", rooms=[team])
    return {"alice": alice, "bob": bob, "carol": carol}


def new_context(
    browser: Browser,
    server: Daphne,
    theme: Literal["light", "dark"],
    cookie: str | None,
    axe: Path,
) -> BrowserContext:
    width, height = WIDTHS["desktop"]
    context = browser.new_context(
        base_url=server.http, viewport={"width": width, "height": height}, color_scheme=theme
    )
    context.set_default_timeout(TIMEOUT_MS)
    # The page's CSP (script-src 'self') refuses an inline <script> (add_script_tag):
    # an init script is run by the browser itself, not by the page, so axe loads with
    # the CSP left on.
    context.add_init_script(path=str(axe))
    if cookie:
        name, value = cookie.split("=", 1)
        context.add_cookies([{"name": name, "value": value, "url": server.http}])
    return context


def check_page(page: Page, spec: PageSpec, width_name: str, theme: str) -> list[str]:
    problems: list[str] = []
    where = f"{spec.name} at {width_name} ({theme})"
    scroll = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    if scroll[0] > scroll[1]:
        problems.append(f"{where}: scrolls sideways, {scroll[0]} > {scroll[1]}")
    overflowing = page.evaluate(OVERFLOWING_JS)
    if overflowing:
        problems.append(f"{where}: wider than the viewport: {overflowing}")
    if spec.name == "room":
        bar = page.evaluate(ROOM_BAR_JS)
        if bar["nameHeight"] > bar["line"] + 1 or not bar["oneLine"]:
            problems.append(f"{where}: the room bar is not one line: {bar}")
        if width_name == "phone" and not bar["truncated"]:
            problems.append(f"{where}: the long room name is not cut with an ellipsis: {bar}")
    violations = page.evaluate(AXE_RUN_JS)
    problems.extend(f"{where}: axe {v}" for v in violations)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{spec.name}-{width_name}-{theme}.png"))
    return problems


def load(page: Page, spec: PageSpec) -> None:
    if spec.name == "room":
        open_room(page, "planning", join=False)
        expect(page.locator("#messages li.message")).to_have_count(5)
    else:
        response = page.goto(spec.path)
        assert response is not None
        assert response.status == spec.status, f"{spec.path}: {response.status}"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("spec", PAGES, ids=[spec.name for spec in PAGES])
def test_every_page_fits_every_width_in_both_themes_and_passes_axe(
    spec: PageSpec,
    layout_server: Daphne,
    make_user: Callable[..., User],
    chromium_path: Path,
    axe_path: Path,
) -> None:
    users = make_world(make_user)
    cookie = session_cookie(users[spec.user]) if spec.user else None
    problems: list[str] = []
    errors: list[str] = []
    with launch_chromium(chromium_path) as browser:
        for theme in THEMES:
            context = new_context(browser, layout_server, theme, cookie, axe_path)
            page = context.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            for width_name, (width, height) in WIDTHS.items():
                page.set_viewport_size({"width": width, "height": height})
                load(page, spec)
                expect(page.locator("html")).to_have_attribute(
                    "data-theme", "system"
                )  # the browser's scheme decides, as for a user who never chose
                problems.extend(check_page(page, spec, width_name, theme))
            context.close()
    assert errors == [], errors
    assert problems == [], "\n".join(problems)


@pytest.mark.timeout(180)
def test_phone_room_menu_drawer_and_full_screen_panels(
    layout_server: Daphne, make_user: Callable[..., User], chromium_path: Path, axe_path: Path
) -> None:
    """At 390 px: the actions menu holds search, order, notifications and the online
    list; the online list and search results cover the screen and Back closes them; the
    sidebar is a drawer; a chosen dark theme wins over a light browser."""
    alice = make_world(make_user)["alice"]
    profiles.profile_preferences_set(user=alice, theme="dark", timezone_name="")
    cookie = session_cookie(alice)
    errors: list[str] = []
    with launch_chromium(chromium_path) as browser:
        context = new_context(browser, layout_server, "light", cookie, axe_path)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.set_viewport_size({"width": 390, "height": 844})
        open_room(page, "planning", join=False)
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        # Why axe comes by an init script: the page's CSP refuses an inline script.
        with contextlib.suppress(PlaywrightError):
            page.add_script_tag(content="window.inlineScriptRan = true")
        assert page.evaluate("window.inlineScriptRan === undefined")
        assert page.evaluate("typeof window.axe.run") == "function"
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(20, 23, 28)", background  # theme.css's dark --bg

        # The actions are in a menu, closed at first.
        toggle = page.locator("#room-menu-toggle")
        expect(toggle).to_be_visible()
        expect(page.locator("#search-input")).to_be_hidden()
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        for part in ("#search-input", "#search-sort", "#notify-menu > summary", "#presence-open"):
            expect(page.locator(part)).to_be_visible()
        assert page.evaluate(OVERFLOWING_JS) == []
        page.screenshot(path=str(shot("room-phone-menu")))
        page.keyboard.press("Escape")
        expect(toggle).to_have_attribute("aria-expanded", "false")
        expect(toggle).to_be_focused()

        # Who is online: full-screen, and Back returns to the room.
        toggle.click()
        page.click("#presence-open")
        presence = page.locator("#presence")
        expect(presence).to_be_visible()
        box = presence.bounding_box()
        assert box is not None
        assert (box["x"], box["y"], box["width"]) == (0, 0, 390), box
        expect(presence.locator("#online li")).not_to_have_count(0)
        page.screenshot(path=str(shot("room-phone-online")))
        page.get_by_role("button", name="← Back").and_(page.locator("#presence-close")).click()
        expect(presence).to_be_hidden()

        # Search from the menu: the results cover the screen; Back closes them.
        toggle.click()
        page.fill("#search-input", "roadmap")
        page.press("#search-input", "Enter")
        results = page.locator("#search-results")
        expect(results).to_be_visible()
        expect(toggle).to_have_attribute("aria-expanded", "false")
        expect(results.locator(".search-hit")).to_have_count(1)
        box = results.bounding_box()
        assert box is not None
        assert (box["x"], box["y"], box["width"]) == (0, 0, 390), box
        page.screenshot(path=str(shot("room-phone-search")))
        page.click("#search-close")
        expect(results).to_be_hidden()

        # The sidebar: a drawer over the room.
        expect(page.locator("#sidebar")).to_be_hidden()
        page.click("#sidebar-toggle")
        expect(page.locator("#sidebar")).to_be_visible()
        page.screenshot(path=str(shot("room-phone-drawer")))
        page.keyboard.press("Escape")
        expect(page.locator("#sidebar")).to_be_hidden()

        # The composer sits at the bottom of what is visible, with the list above it.
        composer = page.locator("#composer").bounding_box()
        assert composer is not None
        assert 844 - 80 < composer["y"] + composer["height"] <= 844, composer

        # The top menu folds on phones, opens on a tap, and Esc closes it.
        links = page.locator("header.top nav")
        expect(links).to_be_hidden()
        page.click("header.top .nav-toggle")
        expect(links.get_by_role("link", name="Settings")).to_be_visible()
        assert page.evaluate(OVERFLOWING_JS) == []
        page.screenshot(path=str(shot("nav-phone-open")))
        page.keyboard.press("Escape")
        expect(links).to_be_hidden()
        context.close()
    assert errors == [], errors


def shot(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"
