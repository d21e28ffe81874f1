"""What the Chromium tests of threads share: the data they start from and the steps
they repeat (tests/e2e/test_browser_threads*.py)."""

from collections.abc import Callable

from django.contrib.auth.models import User
from playwright.sync_api import Locator, Page, expect

from chat import services
from chat.models import Room
from chat.services.posting import SendRequest, message_post_one
from tests.conftest import TEST_PASSWORD

LIVE_MS = 5_000  # a change reaches another browser within this
ROOM_LIST = "#messages li.message:not(.outbox)"
PANEL = "#thread-panel"
REPLIES = "#thread-messages li.message:not(.thread-root):not(.outbox)"


def seed(make_user: Callable[..., User]) -> dict[str, int]:
    """alice and bob in Design; alice's root with no reply yet, and bob's older thread
    (one reply by carol) that alice follows because carol named her."""
    alice = make_user("alice", password=TEST_PASSWORD)
    bob = make_user("bob", password=TEST_PASSWORD)
    carol = make_user("carol", password=TEST_PASSWORD)
    room = Room.objects.create(slug="design", name="Design")
    for user in (alice, bob, carol):
        services.room_join(user=user, slug="design")
    old = services.message_post(room_id=room.pk, author=bob, body="Old question", client_id="s1")
    message_post_one(
        SendRequest(
            room_id=room.pk,
            author=carol,
            body="@alice knows this one",
            client_id="s2",
            thread=old["id"],
        )
    )
    root = services.message_post(
        room_id=room.pk, author=alice, body="Release plan for Friday?", client_id="s3"
    )
    return {"root": root["id"], "old": old["id"]}


def root_item(page: Page, root: int) -> Locator:
    return page.locator(f'#messages li.message[data-id="{root}"]')


def reply_in_panel(page: Page, body: str, *, also: bool = False) -> None:
    page.fill("#thread-body", body)
    if also:
        page.check("#thread-also")
    page.press("#thread-body", "Enter")
    expect(page.locator("#thread-body")).to_have_value("")


def threads_entry(page: Page) -> Locator:
    return page.locator("#threads-open")


def thread_count(page: Page) -> Locator:
    return page.locator("#threads-open #threads-count")
