"""Image messages: decoded and re-encoded (EXIF gone), thumbnailed, limited, refused
when they are not images, and served only to readers of the room, safely."""

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.test import Client, override_settings
from PIL import Image

from chat import services
from chat.models import Attachment, Message, Room

pytestmark = pytest.mark.django_db

Open = Callable[..., Any]
GPS_IFD = 0x8825
ORIENTATION = 0x0112


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (640, 480), **save: Any) -> bytes:
    mode = "RGBA" if fmt in ("PNG", "WEBP") else "RGB"
    image = Image.new(mode, size, (200, 30, 30, 255) if mode == "RGBA" else (200, 30, 30))
    out = io.BytesIO()
    image.save(out, format=fmt, **save)
    return out.getvalue()


def jpeg_with_exif() -> bytes:
    """A 640x480 JPEG whose EXIF holds a GPS position, a camera and 'rotate 90°'."""
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[ORIENTATION] = 6
    exif.get_ifd(GPS_IFD)[2] = (52.0, 31.0, 12.0)  # GPSLatitude
    return image_bytes("JPEG", exif=exif.tobytes())


def upload(client: Client, slug: str, data: bytes, name: str = "photo.jpg", **fields: str) -> Any:
    file = io.BytesIO(data)
    file.name = name
    return client.post(f"/api/rooms/{slug}/images/", {"file": file, **fields})


def bearer(user: User) -> Client:
    secret = services.token_create(user=user, name="t").secret
    return Client(headers={"authorization": f"Bearer {secret}"})


def test_an_image_is_stored_without_exif_with_a_thumbnail_and_served_to_readers(
    alice: User, bob: User, room: Room, media_root: Path
) -> None:
    response = upload(bearer(alice), room.slug, jpeg_with_exif(), 'Ünïcode "name";x.JPG')
    assert response.status_code == 201, response.content
    message = response.json()
    attachment = message["attachment"]
    assert (message["kind"], message["body"], message["author"]) == ("user", "", "alice")
    # The orientation was applied to the pixels: 640x480 turned upright is 480x640.
    assert (attachment["width"], attachment["height"]) == (480, 640)
    assert max(attachment["thumbnail_width"], attachment["thumbnail_height"]) == 320
    assert attachment["content_type"] == "image/jpeg"
    assert attachment["name"] == "Unicode-name-x.jpg"
    stored = Attachment.objects.get()
    assert Path(stored.file.path).is_relative_to(media_root)
    with Image.open(stored.file.path) as saved:
        assert saved.size == (480, 640)
        assert not saved.getexif(), "EXIF survived"
        assert "exif" not in saved.info
    assert b"SpyCam" not in Path(stored.file.path).read_bytes()

    reader = bearer(bob)  # any reader of the public room
    full = reader.get(attachment["url"])
    assert full.status_code == 200
    assert full["Content-Type"] == "image/jpeg"
    assert full["X-Content-Type-Options"] == "nosniff"
    assert full["Content-Disposition"] == 'inline; filename="Unicode-name-x.jpg"'
    assert "sandbox" in full["Content-Security-Policy"]
    body = full.getvalue()
    assert body == Path(stored.file.path).read_bytes()
    thumb = reader.get(attachment["thumbnail_url"], headers={"accept": "image/avif,image/webp"})
    assert thumb.status_code == 200
    assert thumb["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(thumb.getvalue())) as small:
        assert small.size == (attachment["thumbnail_width"], attachment["thumbnail_height"])
    # History carries the same attachment.
    history = reader.get(f"/api/rooms/{room.slug}/messages/").json()["messages"]
    assert history[0]["attachment"] == attachment


def test_png_with_alpha_and_animated_gif_keep_what_matters(alice: User, room: Room) -> None:
    client = bearer(alice)
    png = upload(client, room.slug, image_bytes("PNG"), "a.png", body="transparent").json()
    assert png["body"] == "transparent"
    assert png["attachment"]["content_type"] == "image/png"
    assert client.get(png["attachment"]["thumbnail_url"])["Content-Type"] == "image/png"
    frames = [Image.new("RGB", (40, 30), color) for color in ("red", "green", "blue")]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    gif = upload(client, room.slug, out.getvalue(), "anim.gif").json()
    assert gif["attachment"]["content_type"] == "image/gif"
    with Image.open(Attachment.objects.get(pk=gif["attachment"]["id"]).file.path) as saved:
        assert getattr(saved, "n_frames", 1) == 3


@pytest.mark.parametrize(
    ("data", "name", "code"),
    [
        (b"just some text, not an image", "notes.txt", "bad_image"),
        (b"<html><script>alert(1)</script></html>", "innocent.png", "bad_image"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "logo.svg", "bad_image"),
        (image_bytes("JPEG")[:300], "truncated.jpg", "bad_image"),
        (image_bytes("BMP"), "old.bmp", "unsupported_image"),
        (image_bytes("TIFF"), "scan.tiff", "unsupported_image"),
    ],
    ids=["text", "html-as-png", "svg", "truncated", "bmp", "tiff"],
)
def test_files_that_are_not_accepted_images_are_refused(
    alice: User, room: Room, media_root: Path, data: bytes, name: str, code: str
) -> None:
    response = upload(bearer(alice), room.slug, data, name)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code
    assert not Message.objects.exists()
    assert not media_root.exists() or not any(media_root.rglob("*.*"))


def test_size_and_pixel_limits(alice: User, room: Room) -> None:
    client = bearer(alice)
    with override_settings(CHAT_IMAGE_MAX_BYTES=2000):
        big = upload(client, room.slug, image_bytes("PNG", (300, 300)) + b"\0" * 200_000)
        assert big.status_code == 413
        assert big.json()["error"]["code"] == "file_too_large"
        over = upload(client, room.slug, jpeg_with_exif())
        assert over.status_code == 413
    with override_settings(CHAT_IMAGE_MAX_PIXELS=100 * 100):
        huge = upload(client, room.slug, image_bytes("PNG", (101, 100)), "wide.png")
        assert huge.status_code == 400
        assert huge.json()["error"]["code"] == "image_too_large_pixels"
    missing = client.post(f"/api/rooms/{room.slug}/images/", {"body": "no file"})
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "invalid"
    assert not Message.objects.exists()


def test_a_non_member_can_neither_upload_to_nor_see_images_of_a_private_room(
    alice: User, bob: User, media_root: Path
) -> None:
    private = services.room_create(slug="p", name="P", topic="", creator=alice, is_private=True)
    posted = upload(bearer(alice), private.slug, image_bytes()).json()["attachment"]
    outsider = bearer(bob)
    refused = upload(outsider, private.slug, image_bytes())
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "room_not_found"  # as on the WebSocket
    assert outsider.get(f"/api/rooms/{private.slug}/messages/").status_code == 404
    for url in (posted["url"], posted["thumbnail_url"]):
        response = outsider.get(url)
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert Client().get(url).status_code == 401
    assert Attachment.objects.count() == 1


def test_a_deleted_messages_image_is_no_longer_served(alice: User, room: Room) -> None:
    client = bearer(alice)
    message = upload(client, room.slug, image_bytes()).json()
    assert client.get(message["attachment"]["url"]).status_code == 200
    services.message_delete(message_id=message["id"], user=alice)
    assert client.get(message["attachment"]["url"]).status_code == 404
    assert client.get("/api/attachments/999999/").status_code == 404
    assert client.get(f"/api/attachments/{2**64}/").status_code == 404


def test_a_resent_upload_returns_the_first_message_and_stores_once(
    alice: User, room: Room, media_root: Path
) -> None:
    client = bearer(alice)
    first = upload(client, room.slug, image_bytes(), client_id="img-1").json()
    again = upload(client, room.slug, image_bytes(), client_id="img-1").json()
    assert again == first
    assert Message.objects.count() == 1
    assert len(list(media_root.rglob("*.*"))) == 2  # the image and its thumbnail


def test_session_uploads_need_csrf(alice: User, room: Room) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    refused = upload(client, room.slug, image_bytes())
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"


@pytest.mark.django_db(transaction=True)
async def test_websocket_clients_receive_image_messages(
    open_socket: Open, alice: User, bob: User, room: Room
) -> None:
    client = await sync_to_async(bearer)(alice)
    listener = await open_socket(bob, f"/ws/chat/{room.slug}/")
    assert (await listener.connect())[0]
    await listener.receive_json_from()
    response = await sync_to_async(upload)(client, room.slug, image_bytes(), body="look")
    frame = await listener.receive_json_from(timeout=5)
    assert frame["message"] == response.json()
    assert frame["message"]["attachment"]["url"].startswith("/api/attachments/")
    assert json.loads(json.dumps(frame))["message"]["body"] == "look"


def test_editing_an_image_caption_keeps_the_image(alice: User, room: Room) -> None:
    posted = upload(bearer(alice), room.slug, image_bytes(), body="before").json()
    edited = services.message_edit(message_id=posted["id"], user=alice, body="after")
    assert edited["body"] == "after"
    assert edited["attachment"] == posted["attachment"]
