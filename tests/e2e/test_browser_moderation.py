"""Real-browser moderation and hostile content: a moderator hides a message from the
Django admin and it leaves an open page at once (and stays gone after a reload); a
user edits and deletes their own messages inline and another user's page follows;
mutes, bans and the idle timeout (4408) as the page shows them; and script-like
payloads as message bodies, room names, topics and usernames are shown as text on the
room page, the room list and the admin. Headless Chromium (Debian's, never a
downloaded one) against real daphne processes."""

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import (
    Locator,
    Page,
    expect,
)

from chat import services
from chat.content.rendering import ALLOWED
from chat.models import Message, Room, Sanction
from tests.conftest import TEST_PASSWORD
from tests.e2e.browser import act, in_thread, launch_chromium, log_in, open_room, send
from tests.servers import daphnes

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LIVE_MS = 2_000  # a moderation action reaches an open page within this
SAVED = "#messages li.message:not(.outbox)"

PAYLOADS = [
    '<img src=x onerror="window.__xss=1">',
    "<script>window.__xss=1</script>",
    '"><svg onload=window.__xss=1>',
    "javascript:window.__xss=1",
    '<iframe srcdoc="<script>parent.__xss=1</script>">',
    "{{7*7}}",
    "</textarea><script>window.__xss=1</script>",
    '<a href="javascript:window.__xss=1">x</a>',
    "<style>body{display:none}</style>",
    "&lt;b&gt;",
    '<math><mi xlink:href="javascript:window.__xss=1">',
    "'-alert(1)-'",
]
ODD_USERNAME = "x@y.z+-_"  # every character Django allows in a username besides \w

# The elements the page itself puts in the message list, and those the server's rendered
# html may hold (chat.content.rendering.ALLOWED); anything else was injected.
# DIV: a message's reaction bar (reactions.js).
# svg/path: the action bar's icons (checked below to be only those).
MESSAGE_TAGS = {"LI", "SPAN", "TIME", "BUTTON", "IMG", "DIV", "svg", "path"} | {
    tag.upper() for tag in ALLOWED
}
OWN_AVATAR = "img.avatar[src^='/api/users/']"
TAGS_IN_JS = "root => [...root.querySelectorAll('*')].map(el => el.tagName)"
# A script that is neither a file of this origin nor an inert JSON island was injected.
FOREIGN_SCRIPTS_JS = """() => [...document.scripts]
    .filter(s => !(s.src && new URL(s.src).origin === location.origin)
                 && s.type !== 'application/json')
    .map(s => s.outerHTML)"""


def message(page: Page, body: str) -> Locator:
    """The saved message whose body is exactly `body`."""
    return page.locator(SAVED).filter(
        has=page.locator(".body", has_text=re.compile(f"^{re.escape(body)}$"))
    )


def bodies(page: Page) -> list[str]:
    texts: list[str] = page.locator(f"{SAVED} > .body").evaluate_all(
        "items => items.map(el => el.textContent)"
    )
    return texts


def count_sockets(page: Page) -> list[str]:
    opened: list[str] = []
    page.on("websocket", lambda ws: opened.append(ws.url))
    return opened


def assert_no_injection(page: Page, root: str, allowed: set[str]) -> None:
    tags = set(page.locator(root).evaluate(TAGS_IN_JS))
    assert tags <= allowed, f"{page.url} {root}: unexpected elements {tags - allowed}"
    if root == "#messages":  # an image there is an avatar the page drew, nothing else
        assert page.locator(f"#messages img:not({OWN_AVATAR})").count() == 0, page.url
        icons = "li.message > .actions > button.act > svg"
        assert page.locator(f"#messages svg:not({icons})").count() == 0, page.url
    assert page.evaluate(FOREIGN_SCRIPTS_JS) == [], page.url
    assert page.evaluate("typeof window.__xss") == "undefined", page.url
    expect(page.locator("body")).to_be_visible()  # no injected <style> hid it


@pytest.mark.timeout(120)
def test_moderator_hides_a_message_in_the_admin_and_open_pages_drop_it(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    make_user("alice", password=TEST_PASSWORD)
    make_user("mod", password=TEST_PASSWORD, is_staff=True, is_superuser=True)
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    with (
        daphnes(server_env, log_dir, 1) as (server,),
        launch_chromium(chromium_path) as browser,
    ):
        page_errors: list[str] = []
        alice = log_in(browser, server.http, "alice", page_errors, report_csp_and_dialogs=True)
        open_room(alice, "lobby")
        send(alice, "delete me please")
        send(alice, "this one stays")
        expect(alice.locator(SAVED)).to_have_count(2)
        doomed_id = message(alice, "delete me please").get_attribute("data-id")
        assert doomed_id
        assert doomed_id.isdigit()

        mod = log_in(browser, server.http, "mod", page_errors, report_csp_and_dialogs=True)
        mod.goto("/admin/chat/message/")
        row = mod.locator("#result_list tbody tr", has_text="delete me please")
        expect(row).to_have_count(1)
        row.locator("input.action-select").check()
        mod.select_option("select[name=action]", label="Delete (hide) selected messages")
        clicked = time.monotonic()
        with mod.expect_navigation():
            mod.click("#changelist-form button[name=index]")
        expect(message(alice, "delete me please")).to_have_count(0, timeout=LIVE_MS)
        gone_after = time.monotonic() - clicked
        assert gone_after < LIVE_MS / 1000, f"the hidden message left after {gone_after:.2f}s"
        expect(mod.locator("ul.messagelist")).to_contain_text("1 message(s) hidden.")
        assert bodies(alice) == ["this one stays"]
        assert alice.locator(f'#messages li[data-id="{doomed_id}"]').count() == 0
        expect(alice.locator("#status")).to_have_attribute("data-state", "connected")
        assert not alice.locator("#error").is_visible()

        alice.reload()
        expect(alice.locator("#status")).to_have_attribute("data-state", "connected")
        expect(alice.locator(SAVED)).to_have_count(1)
        assert bodies(alice) == ["this one stays"]
        assert page_errors == []
        print(f"hidden message left the open page {gone_after:.2f}s after the admin action")
    assert "Traceback" not in server.log(), server.log()
    hidden = Message.objects.get(pk=int(doomed_id))
    assert hidden.deleted_at is not None
    assert hidden.deleted_by is not None
    assert hidden.deleted_by.username == "mod"


@pytest.mark.timeout(120)
def test_authors_edit_and_delete_inline_and_sanctions_show_on_the_page(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    alice_user = make_user("alice", password=TEST_PASSWORD)
    bob_user = make_user("bob", password=TEST_PASSWORD)
    lobby, _ = Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    with (
        daphnes(server_env, log_dir, 1) as (server,),
        launch_chromium(chromium_path) as browser,
    ):
        page_errors: list[str] = []
        alice = log_in(browser, server.http, "alice", page_errors, report_csp_and_dialogs=True)
        bob = log_in(browser, server.http, "bob", page_errors, report_csp_and_dialogs=True)
        open_room(alice, "lobby")
        open_room(bob, "lobby")
        send(alice, "first draft")
        send(alice, "to be removed")
        # Saved before bob sends: the order asserted below is the order of the sends.
        expect(alice.locator(SAVED)).to_have_count(2)
        send(bob, "bob was here")
        for page in (alice, bob):
            expect(page.locator(SAVED)).to_have_count(3)
            ids = page.locator(SAVED).evaluate_all("items => items.map(li => li.dataset.id)")
            assert all(i and i.isdigit() for i in ids), ids

        # Controls only on one's own messages, in the action bar shown on hover.
        message(alice, "first draft").hover()
        expect(message(alice, "first draft").locator("button.edit")).to_be_visible()
        expect(message(alice, "first draft").locator("button.delete")).to_be_visible()
        others = "button.edit, button.delete"  # anyone may reply; only authors change
        expect(message(alice, "bob was here").locator(others)).to_have_count(0)
        expect(message(bob, "first draft").locator(others)).to_have_count(0)
        message(bob, "bob was here").hover()
        expect(message(bob, "bob was here").locator("button.edit")).to_be_visible()

        # Escape cancels an edit; Enter saves it, and bob sees it marked as edited.
        draft = message(alice, "first draft")
        act(draft, "edit")
        editor = draft.locator("textarea.editor")
        expect(editor).to_be_focused()
        expect(editor).to_have_value("first draft")
        editor.fill("not this")
        editor.press("Escape")
        expect(alice.locator("#messages textarea.editor")).to_have_count(0)
        expect(draft.locator(".body")).to_have_text("first draft")
        alice.screenshot(path=str(log_dir / "alice-controls.png"))

        act(draft, "edit")
        editor.fill("final text")
        editor.press("Enter")
        for page in (alice, bob):
            edited = message(page, "final text")
            expect(edited).to_have_count(1)
            expect(edited.locator(".edited")).to_have_text("(edited)")
        assert bodies(bob) == ["final text", "to be removed", "bob was here"]

        # Delete asks first; "no" keeps it, "yes" removes it for everyone.
        doomed = message(alice, "to be removed")
        act(doomed, "delete")
        expect(doomed.locator(".confirm")).to_have_text("Delete? yes no")
        alice.screenshot(path=str(log_dir / "alice-confirm-delete.png"))
        doomed.locator("button.keep").click()
        expect(doomed.locator(".confirm")).to_have_count(0)
        doomed.hover()
        expect(doomed.locator("button.delete")).to_be_visible()
        act(doomed, "delete")
        doomed.locator("button.confirm-delete").click()
        for page in (alice, bob):
            expect(message(page, "to be removed")).to_have_count(0, timeout=LIVE_MS)
            assert bodies(page) == ["final text", "bob was here"]

        # A refused edit is shown in #error, and the page's replies stay matched.
        edited = message(alice, "final text")
        act(edited, "edit")
        edited.locator("textarea.editor").fill("   ")
        edited.locator("textarea.editor").press("Enter")
        expect(alice.locator("#error")).to_have_text("A message cannot be empty.")
        expect(edited.locator(".body")).to_have_text("final text")
        send(alice, "after a refused edit")
        expect(message(bob, "after a refused edit")).to_have_count(1)
        expect(alice.locator("#messages li.failed, #messages li.pending")).to_have_count(0)

        # Muted: a send fails with the reason shown, an edit is refused too.
        in_thread(
            lambda: Sanction.objects.create(
                kind=Sanction.Kind.MUTE, user=alice_user, room=lobby, reason="cool down"
            )
        )
        send(alice, "said while muted")
        expect(alice.locator("#messages li.failed .body")).to_have_text("said while muted")
        expect(alice.locator("#error")).to_have_text("You are muted here.")
        act(edited, "edit")
        edited.locator("textarea.editor").fill("edited while muted")
        edited.locator("textarea.editor").press("Enter")
        expect(alice.locator("#error")).to_have_text("You are muted here.")
        expect(message(bob, "final text")).to_have_count(1)
        expect(alice.locator("#status")).to_have_attribute("data-state", "connected")

        # Banned: bob's next frame in the room is refused ("banned"); the page says he
        # lost the room, marks the message failed and takes away his controls there. Its
        # one socket stays open, for his other rooms, and is not replaced. (The room.left
        # a ban sends to open sockets goes through the channel layer, which this test
        # process does not share with daphne, so the refused frame is what tells the page.)
        bob_sockets = count_sockets(bob)
        in_thread(
            lambda: Sanction.objects.create(
                kind=Sanction.Kind.BAN, user=bob_user, room=lobby, reason="spam"
            )
        )
        send(bob, "said while banned")
        expect(bob.locator("#room")).to_have_attribute("data-room-state", "lost")
        expect(bob.locator("#room-notice")).to_have_text("You were banned from this room.")
        expect(bob.locator("#error")).to_have_text("You no longer have access to this room.")
        expect(bob.locator("#messages li.failed .body")).to_have_text("said while banned")
        expect(bob.locator("#body")).to_be_disabled()
        expect(bob.locator("#messages button.edit")).to_have_count(0)
        expect(bob.locator('#sidebar a[data-slug="lobby"]')).to_have_count(0)
        expect(bob.locator("#status")).to_have_attribute("data-state", "connected")
        bob.wait_for_timeout(1500)
        assert bob_sockets == [], f"reconnected after a room ban: {bob_sockets}"
        bob.screenshot(path=str(log_dir / "bob-banned.png"))
        assert page_errors == []

        reloaded = bob.reload()  # a banned user is told they may not enter, not "no room"
        assert reloaded is not None
        assert reloaded.status == 403
    assert "Traceback" not in server.log(), server.log()
    saved = Message.objects.filter(room=lobby).order_by("seq")
    assert [(m.body, m.deleted_at is not None) for m in saved] == [
        ("final text", False),
        ("to be removed", True),
        ("bob was here", False),
        ("after a refused edit", False),
    ]


@pytest.mark.timeout(120)
def test_room_tags_members_link_and_an_idle_page_waiting_for_the_user(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    alice_user = make_user("alice", password=TEST_PASSWORD)
    make_user("bob")
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    team = services.room_create(
        slug="team", name="Team", topic="", creator=alice_user, is_private=True
    )
    services.room_lock(room=team, locked=True, actor=alice_user)
    env = {**server_env, "CHAT_IDLE_TIMEOUT_SECONDS": "1.5"}
    with (
        daphnes(env, log_dir, 1) as (server,),
        launch_chromium(chromium_path) as browser,
    ):
        page_errors: list[str] = []
        alice = log_in(browser, server.http, "alice", page_errors, report_csp_and_dialogs=True)
        # Tags by the room's name; the owner of a private room gets its Members page.
        alice.goto("/chat/team/")
        expect(alice.locator(".room-head .tag")).to_have_text(["private", "locked"])
        expect(alice.locator(".room-head a.manage-members")).to_have_text("Members")
        alice.screenshot(path=str(log_dir / "private-locked-room.png"))
        alice.click(".room-head a.manage-members")
        expect(alice).to_have_url(f"{server.http}/chat/team/members/")
        expect(alice.locator("ul.members li")).to_contain_text(["alice"])
        alice.goto("/dm/bob/")  # opens (creates) the direct room
        expect(alice).to_have_url(re.compile(r"/chat/dm-\d+-\d+/$"))
        expect(alice.locator(".room-head .tag")).to_have_text(["direct"])
        expect(alice.locator(".room-head a.manage-members")).to_have_count(0)
        # The browse page tags the rooms by kind (a direct room is in the sidebar, not
        # there); the room page's sidebar lists the direct room by the other person.
        alice.goto("/")
        first_cells = alice.locator("table.rooms tbody tr td:first-child")
        cells = first_cells.evaluate_all("tds => tds.map(td => td.textContent.trim())")
        assert len(cells) == 2, cells
        assert any(re.match(r"^Lobby( — .*)?$", cell) for cell in cells), cells
        assert "Team private locked" in cells, cells
        alice.screenshot(path=str(log_dir / "room-list-tags.png"))

        # The lobby: no tags, no Members link; then idle.
        sockets = count_sockets(alice)
        open_room(alice, "lobby")
        expect(alice.locator("#dm-list a.room-link")).to_have_text(["bob"])
        expect(alice.locator("#room-list a.room-link")).to_have_text(["Lobby", "Team"])
        expect(alice.locator(".room-head .tag, .room-head a.manage-members")).to_have_count(0)
        status = alice.locator("#status")
        expect(status).to_have_attribute("data-state", "idle", timeout=6_000)
        expect(status).to_have_text("paused — type or click to reconnect")
        alice.wait_for_timeout(2_000)
        assert len(sockets) == 1, f"reconnected by itself while idle: {sockets}"
        alice.screenshot(path=str(log_dir / "alice-idle.png"))

        alice.locator("#body").press("h")  # the user is back: a key reconnects
        expect(status).to_have_attribute("data-state", "connected")
        assert len(sockets) == 2
        assert sockets[1].endswith("/ws/chat/?after=lobby:0"), sockets
        alice.locator("#body").fill("back again")
        alice.click("#composer button[type=submit]")
        expect(message(alice, "back again")).to_have_count(1)
        assert page_errors == []
    assert "Traceback" not in server.log(), server.log()


@pytest.mark.timeout(120)
def test_payloads_render_as_text_in_rooms_the_room_list_and_the_admin(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    make_user("alice", password=TEST_PASSWORD)
    make_user(ODD_USERNAME, password=TEST_PASSWORD)
    make_user("mod", password=TEST_PASSWORD, is_staff=True, is_superuser=True)
    slugs = [f"x{n}" for n in range(1, len(PAYLOADS) + 1)]
    for slug, payload in zip(slugs, PAYLOADS, strict=True):
        Room.objects.create(slug=slug, name=payload, topic=payload)
    with (
        daphnes(server_env, log_dir, 1) as (server,),
        launch_chromium(chromium_path) as browser,
    ):
        page_errors: list[str] = []
        alice = log_in(browser, server.http, "alice", page_errors, report_csp_and_dialogs=True)
        odd = log_in(browser, server.http, ODD_USERNAME, page_errors, report_csp_and_dialogs=True)
        expect(odd.locator("header .me")).to_have_text(ODD_USERNAME)

        # Every payload as a message body, sent through the page.
        open_room(alice, "x1")
        open_room(odd, "x1")
        for payload in PAYLOADS:
            send(alice, payload)
        # Saved before the other user writes: send() waits only until a message is
        # queued, and the order asserted below is the order saved.
        expect(alice.locator(SAVED)).to_have_count(len(PAYLOADS))
        send(odd, "hi from an odd name")
        expect(alice.locator(SAVED)).to_have_count(len(PAYLOADS) + 1)
        expect(odd.locator(SAVED)).to_have_count(len(PAYLOADS) + 1)
        expect(alice.locator("#online li")).to_have_text(["alice (you)", ODD_USERNAME])
        for page in (alice, odd):
            assert bodies(page) == [*PAYLOADS, "hi from an odd name"]
            expect(page.locator(f"{SAVED} .author").last).to_have_text(ODD_USERNAME)
            assert_no_injection(page, "#messages", MESSAGE_TAGS)

        # Every payload as a room name and topic, on each room's page.
        for slug, payload in zip(slugs, PAYLOADS, strict=True):
            odd.goto(f"/chat/{slug}/")
            expect(odd.locator(".room-head h1")).to_have_text(payload, use_inner_text=False)
            expect(odd.locator(".room-head .topic")).to_have_text(payload, use_inner_text=False)
            expect(odd.locator("#body")).to_have_attribute(
                "placeholder", re.compile(f"^Message {re.escape(payload)} \\(")
            )
            assert odd.title() == f"{payload} · Chat"
            assert_no_injection(odd, ".room-head", {"H1", "P", "SPAN"})
            assert_no_injection(odd, "#messages", MESSAGE_TAGS)
        expect(odd.locator("#status")).to_have_attribute("data-state", "connected")

        # The sidebar of the room page: a joined room's name, as text.
        expect(odd.locator('#room-list a.room-link[data-slug="x1"] .room-name')).to_have_text(
            PAYLOADS[0], use_inner_text=False
        )
        assert_no_injection(
            odd,
            "#sidebar",
            # SECTION, LABEL, INPUT: the sidebar's sections and its "Unread first" box (#23)
            {
                "DIV",
                "SECTION",
                "H2",
                "UL",
                "LI",
                "A",
                "SPAN",
                "P",
                "BUTTON",
                "KBD",
                "LABEL",
                "INPUT",
            },
        )

        # The room list (the browse page), besides the lobby every account is in.
        listing = odd.goto("/")
        assert listing is not None
        print("Content-Security-Policy:", listing.headers.get("content-security-policy"))
        rows = odd.locator("table.rooms tbody tr").evaluate_all(
            """rows => rows.map(tr => {
                const link = tr.querySelector('td a');
                const topic = tr.querySelector('.topic');
                return [link.getAttribute('href'), link.textContent, topic && topic.textContent];
            })"""
        )
        rows = [row for row in rows if row[0] != "/chat/lobby/"]
        assert sorted(name for _, name, _ in rows) == sorted(PAYLOADS)
        assert {href for href, _, _ in rows} == {f"/chat/{slug}/" for slug in slugs}
        assert sorted(topic for _, _, topic in rows) == sorted(PAYLOADS)
        table_tags = {"TABLE", "CAPTION", "THEAD", "TBODY", "TR", "TH", "TD", "SPAN", "A"}
        assert_no_injection(odd, "table.rooms", table_tags | {"FORM", "INPUT", "BUTTON"})
        odd.screenshot(path=str(log_dir / "payload-room-list.png"), full_page=True)

        # The admin's message list: bodies, room names (Room.__str__) and the author.
        mod = log_in(browser, server.http, "mod", page_errors, report_csp_and_dialogs=True)
        mod.goto("/admin/chat/message/")
        cells = mod.locator("#result_list td.field-short_body").evaluate_all(
            "items => items.map(td => td.textContent)"
        )
        assert sorted(cells) == sorted([*PAYLOADS, "hi from an odd name"])
        authors = set(
            mod.locator("#result_list td.field-author").evaluate_all(
                "items => items.map(td => td.textContent)"
            )
        )
        assert authors == {"alice", ODD_USERNAME}
        assert set(
            mod.locator("#result_list .field-room").evaluate_all(
                "items => items.map(td => td.textContent)"
            )
        ) == {PAYLOADS[0]}
        result_tags = {"TABLE", "THEAD", "TBODY", "TR", "TH", "TD", "DIV", "SPAN", "A", "INPUT"}
        result_tags |= {"LABEL", "IMG"}  # the "deleted" column's boolean icons
        assert_no_injection(mod, "#result_list", result_tags)
        icons = mod.locator("#result_list img").evaluate_all(
            "imgs => imgs.map(img => new URL(img.src).pathname)"
        )
        assert all(src.startswith("/static/admin/img/icon-") for src in icons), icons
        mod.screenshot(path=str(log_dir / "payload-admin.png"), full_page=True)
        mod.goto("/admin/chat/room/")
        room_names = mod.locator("#result_list td.field-name, #result_list th.field-name")
        listed = room_names.evaluate_all("items => items.map(el => el.textContent)")
        # The default room the migration makes may be there too, depending on what ran
        # before this test; every other row is one of the payload rooms, as text.
        assert sorted(name for name in listed if name != "Lobby") == sorted(PAYLOADS)
        assert_no_injection(mod, "#result_list", result_tags)

        # A late onerror/onload would still set it: look once more after a moment.
        for page in (alice, odd, mod):
            page.wait_for_timeout(200)
            assert page.evaluate("typeof window.__xss") == "undefined", page.url
        assert page_errors == []
    assert "Traceback" not in server.log(), server.log()
