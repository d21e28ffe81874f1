"""Files of any kind through POST /api/rooms/<slug>/files/: stored under the server's
name, served only to readers and only as a download, the size limit (from the request
and while streaming), idempotency, images taking the image path, and an upload cut off
half-way against a real daphne leaving nothing behind."""

import io
import re
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from PIL import Image

from chat import services
from chat.models import Attachment, Message, Room
from chat.services.files import content_type_clean, file_name_clean
from tests.servers import daphnes

PDF = b"%PDF-1.4\n" + b"0" * 3000 + b"\n%%EOF\n"


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def stored_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def session(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def upload(
    client: Client, data: bytes, name: str = "report.pdf", slug: str = "general", **fields: str
) -> Any:
    file = SimpleUploadedFile(name, data, content_type=fields.pop("type", "application/pdf"))
    return client.post(f"/api/rooms/{slug}/files/", {"file": file, **fields})


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\plan.xlsx", "plan.xlsx"),
        ("evil\u202eexe.pdf", "evilexe.pdf"),  # no bidi override to disguise the type
        ("a\x00b\nc.txt", "abc.txt"),
        ("...hidden", "hidden"),
        ("Ünïcödé résumé.docx", "Ünïcödé résumé.docx"),
        ("", "file"),
        ("x" * 300 + ".tar.gz", "x" * 117 + ".gz"),
    ],
)
def test_names_are_sanitized_for_display(given: str, shown: str) -> None:
    assert file_name_clean(given) == shown


def test_content_type_is_the_declared_one_when_well_formed_else_guessed() -> None:
    assert content_type_clean("application/pdf", "a.pdf") == "application/pdf"
    assert content_type_clean("Text/Plain; charset=utf-8", "a") == "text/plain"
    assert content_type_clean("<script>", "a.pdf") == "application/pdf"
    assert content_type_clean("", "noext") == "application/octet-stream"


@pytest.mark.django_db
def test_a_file_is_stored_under_the_servers_name_and_served_as_a_download(
    room: Room, alice: User, bob: User, media_root: Path
) -> None:
    response = upload(session(alice), PDF, "Q3 résumé.pdf", body="the numbers", client_id="f1")
    assert response.status_code == 201, response.content
    message = response.json()
    attachment = message["attachment"]
    assert message["body"] == "the numbers"
    assert {k: attachment[k] for k in ("kind", "name", "content_type", "size")} == {
        "kind": "file",
        "name": "Q3 résumé.pdf",
        "content_type": "application/pdf",
        "size": len(PDF),
    }
    assert attachment["thumbnail_url"] is None
    (stored,) = stored_files(media_root)
    assert re.fullmatch(r"[0-9a-f]{32}", stored.name)  # nothing of the user's name
    download = session(bob).get(attachment["url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PDF  # type: ignore[attr-defined]
    disposition = download["Content-Disposition"]
    assert disposition.startswith("attachment; ")
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "Q3 résumé.pdf"
    assert download["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in download["Content-Security-Policy"]
    assert session(bob).get(f"{attachment['url']}thumbnail/").status_code == 404
    # Idempotent by client_id: the same message, nothing stored twice.
    again = upload(session(alice), PDF, "Q3 résumé.pdf", client_id="f1")
    assert again.json()["id"] == message["id"]
    assert len(stored_files(media_root)) == 1


@pytest.mark.django_db
def test_html_is_kept_as_a_file_and_never_served_inline(room: Room, alice: User) -> None:
    page = b"<html><script>alert(1)</script></html>"
    posted = upload(session(alice), page, "x.html", type="text/html").json()
    download = session(alice).get(posted["attachment"]["url"])
    assert download["Content-Disposition"].startswith("attachment;")
    assert download["Content-Security-Policy"] == "default-src 'none'; sandbox"


@pytest.mark.django_db
def test_files_are_for_readers_of_the_room_only(
    alice: User, bob: User, make_user: Callable[..., User]
) -> None:
    services.room_create(slug="secret", name="S", topic="", creator=alice, is_private=True)
    posted = upload(session(alice), PDF, slug="secret").json()
    assert session(bob).get(posted["attachment"]["url"]).status_code == 404
    assert upload(session(bob), PDF, slug="secret").status_code == 404
    assert Client().get(posted["attachment"]["url"]).status_code in (401, 403)


@pytest.mark.django_db
def test_images_sent_as_files_take_the_image_path(room: Room, alice: User) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(buffer, "PNG")
    image = upload(session(alice), buffer.getvalue(), "shot.png", type="image/png").json()
    assert (image["attachment"]["kind"], image["attachment"]["width"]) == ("image", 64)
    assert image["attachment"]["thumbnail_url"]
    broken = upload(session(alice), b"\x89PNG\r\n\x1a\n" + b"junk" * 10, "b.png").json()
    assert broken["attachment"]["kind"] == "file"  # not an image we show: a download


@pytest.mark.django_db
def test_too_large_is_413_from_the_header_or_while_streaming(
    room: Room, alice: User, media_root: Path
) -> None:
    with override_settings(CHAT_FILE_MAX_BYTES=1000, CHAT_IMAGE_MAX_BYTES=1000):
        header = upload(session(alice), b"x" * (200 * 1024))  # over limit + slack
        assert (header.status_code, header.json()["error"]["code"]) == (413, "file_too_large")
        # Within the multipart slack, so only the upload handler sees it is too big.
        streamed = upload(session(alice), b"x" * 5000)
        assert (streamed.status_code, streamed.json()["error"]["code"]) == (
            413,
            "file_too_large",
        )
    assert not Message.objects.exists()
    assert stored_files(media_root) == []


@pytest.mark.slow
def test_an_upload_cut_off_half_way_leaves_nothing_behind(
    server_env: dict[str, str], log_dir: Path, alice: User, tmp_path: Path
) -> None:
    Room.objects.get_or_create(slug="general", defaults={"name": "General"})
    media, temp = tmp_path / "served-media", tmp_path / "tmp"
    temp.mkdir()
    env = {**server_env, "DJANGO_MEDIA_ROOT": str(media), "TMPDIR": str(temp)}
    token = services.token_create(user=alice, name="upload").secret
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"'
        "\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = 4 * 1024 * 1024

    def request_head(port: int) -> bytes:
        return (
            f"POST /api/rooms/general/files/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\nConnection: close\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(head) + size + len(tail)}\r\n\r\n"
        ).encode() + head

    with daphnes(env, log_dir, 1) as (server,):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
            raw.sendall(request_head(server.port))
            raw.sendall(b"y" * (size // 2))  # half the file, then the client is gone
        time.sleep(1.0)
        assert not Message.objects.exists()
        assert not Attachment.objects.exists()
        assert stored_files(media) == []
        assert [p for p in temp.rglob("*") if p.is_file()] == []
        # The same request sent whole is taken: the cut one was refused for being cut.
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
            raw.sendall(request_head(server.port) + b"y" * size + tail)
            answer = b""
            while chunk := raw.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 201"), answer[:300]
        assert len(stored_files(media)) == 1
        assert [p for p in temp.rglob("*") if p.is_file()] == []
    assert Attachment.objects.get().size == size


def test_nginx_lets_the_largest_file_through() -> None:
    from django.conf import settings

    conf = (Path(settings.BASE_DIR) / "deploy" / "nginx" / "chat.conf").read_text()
    megabytes = int(re.search(r"client_max_body_size (\d+)m;", conf)[1])  # type: ignore[index]
    assert megabytes * 1024 * 1024 > settings.CHAT_FILE_MAX_BYTES + 64 * 1024
