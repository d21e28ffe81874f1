"""Real-browser reactions and files (#16): a reaction picked in one context shows its
count in the other at once, toggled from either; a 5 MiB PDF sent with the composer's
file button uploads, appears to the other user with its name, type and size, and
downloads under its name with the same bytes. Headless Chromium (Debian's) against one
real daphne, under the page's strict CSP."""

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Locator, Page, expect

from chat import services
from chat.models import Attachment, Room
from tests.conftest import TEST_PASSWORD
from tests.e2e.browser import act, in_thread, launch_chromium, log_in, open_room
from tests.servers import daphnes

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PDF_BYTES = 5 * 1024 * 1024


def make_pdf(path: Path) -> bytes:
    head = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    tail = b"\n%%EOF\n"
    data = head + os.urandom(PDF_BYTES - len(head) - len(tail)) + tail
    path.write_bytes(data)
    return data


def chip(page: Page, message_id: int, emoji: str) -> Locator:
    bar = page.locator(f'#messages li.message[data-id="{message_id}"] > .reactions')
    return bar.locator("button.reaction").filter(has_text=emoji)


@pytest.mark.timeout(180)
def test_reactions_show_live_and_a_pdf_goes_from_one_user_to_the_other(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
    tmp_path: Path,
) -> None:
    alice = make_user("alice", password=TEST_PASSWORD)
    bob = make_user("bob", password=TEST_PASSWORD)
    room = Room.objects.create(slug="design", name="Design")
    for user in (alice, bob):
        services.room_join(user=user, slug="design")
    target = services.message_post(room_id=room.pk, author=bob, body="ship it?", client_id="t")
    pdf = make_pdf(tmp_path / "quarterly report.pdf")
    media = tmp_path / "media"
    env = {**server_env, "DJANGO_MEDIA_ROOT": str(media)}
    with daphnes(env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        errors: list[str] = []
        first = log_in(browser, server.http, "alice", errors, report_csp_and_dialogs=True)
        second = log_in(browser, server.http, "bob", errors, report_csp_and_dialogs=True)
        open_room(first, "design")
        open_room(second, "design")

        # Alice picks 👍 from the picker: both pages count 1, only hers pressed.
        item = first.locator(f'#messages li.message[data-id="{target["id"]}"]')
        act(item, "react-message")
        first.locator('#emoji-picker [role=option][data-emoji="👍"]').first.click()
        expect(chip(first, target["id"], "👍")).to_have_text("👍 1")
        expect(chip(first, target["id"], "👍")).to_have_attribute("aria-pressed", "true")
        expect(chip(second, target["id"], "👍")).to_have_text("👍 1")
        expect(chip(second, target["id"], "👍")).to_have_attribute("aria-pressed", "false")
        # Bob joins in by clicking the count; then Alice takes hers back.
        chip(second, target["id"], "👍").click()
        expect(chip(first, target["id"], "👍")).to_have_text("👍 2")
        expect(chip(second, target["id"], "👍")).to_have_attribute("aria-pressed", "true")
        chip(first, target["id"], "👍").click()
        expect(chip(second, target["id"], "👍")).to_have_text("👍 1")
        expect(chip(first, target["id"], "👍")).to_have_attribute("aria-pressed", "false")
        # Saved: a reload shows the count, and whose it is.
        second.reload()
        open_room(second, "design")
        expect(chip(second, target["id"], "👍")).to_have_attribute("aria-pressed", "true")

        # Alice sends the PDF with the composer's file button.
        first.set_input_files("#image-input", str(tmp_path / "quarterly report.pdf"))
        link = second.locator("#messages li.message a.attachment.file")
        expect(link).to_have_count(1, timeout=30_000)
        expect(link.locator(".file-name")).to_have_text("quarterly report.pdf")
        expect(link.locator(".file-meta")).to_have_text("application/pdf, 5.0 MB")
        with second.expect_download() as caught:
            link.click()
        download = caught.value
        assert download.suggested_filename == "quarterly report.pdf"
        saved = tmp_path / "downloaded.pdf"
        download.save_as(saved)
        assert saved.read_bytes() == pdf
        expect(first.locator("#messages li.message a.attachment.file")).to_have_count(1)
        assert errors == []

        def stored() -> None:
            attachment = Attachment.objects.get()
            assert (attachment.kind, attachment.size) == ("file", PDF_BYTES)
            assert "quarterly" not in str(attachment.file.name)

        in_thread(stored)
