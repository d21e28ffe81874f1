"""Real-browser image messages and announcements: an image pasted into one browser
appears as a thumbnail in the other, opens in full, and an announcement is shown apart
from people's messages; the page's CSP holds throughout."""

import base64
import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from PIL import Image
from playwright.sync_api import expect

from chat import services
from chat.models import Room
from tests.conftest import TEST_PASSWORD
from tests.e2e.browser import in_thread, launch_chromium, log_in, open_room
from tests.servers import daphnes

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASTE = """async (b64) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const file = new File([bytes], "screenshot.png", { type: "image/png" });
  const data = new DataTransfer();
  data.items.add(file);
  const init = { clipboardData: data, bubbles: true, cancelable: true };
  const event = new ClipboardEvent("paste", init);
  document.getElementById("body").dispatchEvent(event);
  return event.defaultPrevented;
}"""


def png_base64(size: tuple[int, int] = (800, 600)) -> str:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


@pytest.mark.timeout(120)
def test_a_pasted_image_shows_as_a_thumbnail_for_the_other_user(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    make_user("alice", password=TEST_PASSWORD)
    make_user("bob", password=TEST_PASSWORD)
    lobby, _ = Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    env = {**server_env, "DJANGO_MEDIA_ROOT": str(log_dir / "media")}
    with daphnes(env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        errors: list[str] = []
        alice = log_in(browser, server.http, "alice", errors, report_csp_and_dialogs=True)
        bob = log_in(browser, server.http, "bob", errors, report_csp_and_dialogs=True)
        open_room(alice, "lobby")
        open_room(bob, "lobby")

        assert alice.evaluate(PASTE, png_base64()) is True  # taken as an upload
        for page in (bob, alice):
            item = page.locator("#messages li.message").last
            expect(item.locator(".author")).to_have_text("alice")
            thumb = item.locator("a.attachment img.thumb")
            expect(thumb).to_be_visible()
            # Loaded, not a broken image: the thumbnail (at most 320 px wide) decoded.
            page.wait_for_function(
                "img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle()
            )
            assert thumb.evaluate("img => img.naturalWidth") == 320
        assert alice.locator("#messages li.upload").count() == 0
        assert bob.locator("#messages li.message").count() == 1

        # The thumbnail opens the full image in a lightbox (Escape closes it and the
        # focus goes back to the thumbnail); from there the original opens in a tab,
        # served as an image.
        bob.locator("a.attachment").last.click()
        lightbox = bob.locator("dialog.lightbox")
        expect(lightbox).to_be_visible()
        expect(lightbox.locator("img.lightbox-image")).to_have_attribute("alt", re.compile(".+"))
        expect(lightbox.locator(".lightbox-close")).to_be_focused()
        bob.keyboard.press("Escape")
        expect(lightbox).to_be_hidden()
        expect(bob.locator("a.attachment").last).to_be_focused()
        bob.keyboard.press("Enter")  # keyboard: the focused thumbnail opens it again
        expect(lightbox).to_be_visible()
        with bob.context.expect_page() as opened:
            lightbox.locator("a.lightbox-original").click()
        full = opened.value
        full.wait_for_load_state()
        assert "/api/attachments/" in full.url
        assert not full.url.endswith("/thumbnail/")
        response = full.request.get(full.url)
        assert response.status == 200
        assert response.headers["content-type"] == "image/png"
        assert response.headers["x-content-type-options"] == "nosniff"
        full.close()
        lightbox.locator(".lightbox-close").click()
        expect(lightbox).to_be_hidden()

        # An announcement from the server is shown apart from people's messages.
        in_thread(lambda: services.message_post_system(room_id=lobby.pk, body="Deploy at 5"))
        announcement = bob.locator("#messages li.message.system").last
        expect(announcement.locator(".body")).to_have_text("Deploy at 5")
        expect(announcement.locator(".author")).to_have_text("announcement")
        # Anyone may reply to it; nobody edits or deletes it from the page.
        assert announcement.locator(":scope > .actions button.reply").count() == 1
        assert announcement.locator("button.edit, button.delete").count() == 0

        # The API's readable docs render from the site's own files under its CSP.
        alice.goto("/api/docs/")
        expect(alice.locator(".swagger-ui .info .title")).to_contain_text("Chat API")
        expect(alice.locator(".swagger-ui .opblock-summary-path").first).to_be_visible()

        assert errors == []
        bob.screenshot(path=str(log_dir / "bob-images.png"), full_page=True)
        alice.context.close()
        bob.context.close()
