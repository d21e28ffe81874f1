"""The HTTP API: every endpoint and error status, both kinds of authentication, and the
shared path with the WebSocket (a token-authenticated post reaches socket clients live,
one rate-limit bucket for both)."""

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client, override_settings

from chat import services
from chat.database import group_commit
from chat.models import ApiToken, AuditLog, Membership, Message, Room, Sanction

pytestmark = pytest.mark.django_db

Open = Callable[..., Any]


def token_for(user: User, name: str = "script") -> str:
    return services.token_create(user=user, name=name).secret


def bearer(secret: str) -> Client:
    return Client(headers={"authorization": f"Bearer {secret}"})


def session(user: User, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def error_of(response: Any) -> dict[str, Any]:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    error: dict[str, Any] = response.json()["error"]
    assert set(error) >= {"code", "detail"}
    return error


def post_json(client: Client, url: str, data: Any) -> Any:
    return client.post(url, json.dumps(data), content_type="application/json")


@pytest.fixture
def private_room(alice: User) -> Room:
    return services.room_create(
        slug="secret", name="Secret", topic="", creator=alice, is_private=True
    )


@pytest.fixture
def carol(make_user: Callable[..., User]) -> User:
    return make_user("carol")


# --- authentication ---------------------------------------------------------------------


def test_anonymous_requests_get_401_with_a_bearer_challenge(room: Room) -> None:
    for response in (
        Client().get("/api/rooms/"),
        post_json(Client(), f"/api/rooms/{room.slug}/messages/", {"body": "hi"}),
    ):
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'
        assert error_of(response)["code"] == "unauthenticated"


def test_unknown_malformed_and_revoked_tokens_get_401(alice: User) -> None:
    secret = token_for(alice)
    assert bearer(secret).get("/api/rooms/").status_code == 200
    for header in ("Bearer nope", "Bearer", "Bearer a b", f"Bearer {secret}x"):
        response = Client(headers={"authorization": header}).get("/api/rooms/")
        assert response.status_code == 401, header
        assert error_of(response)["code"] == "bad_token"
    services.token_revoke(token_id=ApiToken.objects.get().pk, user=alice)
    assert bearer(secret).get("/api/rooms/").status_code == 401


def test_a_deactivated_users_token_stops_working(alice: User) -> None:
    secret = token_for(alice)
    alice.is_active = False
    alice.save()
    assert bearer(secret).get("/api/rooms/").status_code == 401


def test_tokens_are_stored_hashed_and_record_their_use(alice: User) -> None:
    created = services.token_create(user=alice, name="ci")
    token = ApiToken.objects.get()
    assert created.secret.startswith("chat_")
    assert len(created.secret) > 40
    assert created.secret not in (token.digest, token.prefix)
    assert created.secret.startswith(token.prefix)
    assert token.digest == services.token_digest(created.secret)
    assert token.last_used_at is None
    bearer(created.secret).get("/api/rooms/")
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_session_requests_need_the_csrf_token_and_token_requests_do_not(
    alice: User, room: Room
) -> None:
    url = f"/api/rooms/{room.slug}/messages/"
    client = session(alice, csrf=True)
    assert client.get("/api/rooms/").status_code == 200  # reads need no CSRF token
    refused = post_json(client, url, {"body": "no csrf"})
    assert refused.status_code == 403
    assert error_of(refused)["code"] == "csrf_failed"
    client.get("/settings/tokens/")  # any page with a form sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    ok = client.post(
        url,
        json.dumps({"body": "with csrf"}),
        content_type="application/json",
        headers={"x-csrftoken": csrf},
    )
    assert ok.status_code == 201, ok.content
    # A token request carries no ambient credential: no CSRF token needed.
    client_with_token = Client(enforce_csrf_checks=True)
    client_with_token.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token_for(alice)}"
    assert post_json(client_with_token, url, {"body": "by token"}).status_code == 201
    assert list(Message.objects.values_list("body", flat=True)) == ["with csrf", "by token"]


# --- rooms ------------------------------------------------------------------------------


def test_room_list_shows_public_rooms_and_own_private_ones(
    alice: User, bob: User, room: Room, private_room: Room
) -> None:
    def slugs(user: User) -> set[str]:
        return {r["slug"] for r in bearer(token_for(user)).get("/api/rooms/").json()}

    assert {"general", "secret"} <= slugs(alice)
    assert "general" in slugs(bob)
    assert "secret" not in slugs(bob)


def test_create_room_and_read_it_back(alice: User, bob: User) -> None:
    client = bearer(token_for(alice))
    response = post_json(
        client, "/api/rooms/", {"slug": "ops", "name": "Ops", "topic": "pager", "is_private": True}
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["slug"], created["name"], created["is_private"]) == ("ops", "Ops", True)
    assert created["owner_id"] == alice.pk
    assert client.get("/api/rooms/ops/").json() == created
    assert Membership.objects.filter(room__slug="ops", user=alice).exists()
    # Private: invisible to others, answered like a missing room.
    hidden = bearer(token_for(bob)).get("/api/rooms/ops/")
    assert hidden.status_code == 404
    assert error_of(hidden)["code"] == "room_not_found"


def test_create_room_errors(alice: User, room: Room) -> None:
    client = bearer(token_for(alice))
    rooms_before = Room.objects.count()
    taken = post_json(client, "/api/rooms/", {"slug": room.slug, "name": "Again"})
    assert taken.status_code == 409
    assert error_of(taken)["code"] == "slug_taken"
    invalid = post_json(client, "/api/rooms/", {"slug": "has space", "name": ""})
    assert invalid.status_code == 400
    error = error_of(invalid)
    assert error["code"] == "invalid"
    assert set(error["field_errors"]) == {"slug", "name"}
    broken = client.post("/api/rooms/", "{not json", content_type="application/json")
    assert broken.status_code == 400
    assert error_of(broken)["code"] == "bad_json"
    wrong_type = client.post("/api/rooms/", "slug=x", content_type="text/plain")
    assert wrong_type.status_code == 415
    assert error_of(wrong_type)["code"] == "unsupported_media_type"
    assert Room.objects.count() == rooms_before


def test_unknown_room_and_unknown_endpoint_are_json_404s(alice: User) -> None:
    client = bearer(token_for(alice))
    # "No such room" is room_not_found, as on the WebSocket; an unknown path not_found.
    for url, code in (
        ("/api/rooms/nowhere/", "room_not_found"),
        ("/api/rooms/nowhere/messages/", "room_not_found"),
        ("/api/nothing/here/", "not_found"),
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert error_of(response)["code"] == code, url
    # Not a CSRF page for a POST either (found by the schema fuzzer).
    stray = Client(enforce_csrf_checks=True).post("/api/rooms/a:b/messages/", {"body": "x"})
    assert stray.status_code == 404
    assert error_of(stray)["code"] == "not_found"


def test_banned_user_is_told_403(alice: User, bob: User, room: Room) -> None:
    services.sanction_create(kind="ban", user=bob, room=room, reason="spam", actor=alice)
    client = bearer(token_for(bob))
    for response in (
        client.get(f"/api/rooms/{room.slug}/"),
        client.get(f"/api/rooms/{room.slug}/messages/"),
        post_json(client, f"/api/rooms/{room.slug}/messages/", {"body": "let me in"}),
    ):
        assert response.status_code == 403
        assert error_of(response)["code"] == "banned"


# --- history ----------------------------------------------------------------------------


def test_history_pages_backward_and_forward_by_seq(alice: User, room: Room) -> None:
    for n in range(1, 8):
        services.message_post(room_id=room.pk, author=alice, body=f"m{n}", client_id=f"c{n}")
    client = bearer(token_for(alice))
    url = f"/api/rooms/{room.slug}/messages/"

    def page(**query: int) -> tuple[list[int], bool, int]:
        body = client.get(url, query).json()
        return [m["seq"] for m in body["messages"]], body["has_more"], body["last_seq"]

    assert page() == ([1, 2, 3, 4, 5, 6, 7], False, 7)
    assert page(limit=3) == ([5, 6, 7], True, 7)
    assert page(limit=3, before=5) == ([2, 3, 4], True, 7)
    assert page(limit=3, before=2) == ([1], False, 7)
    assert page(limit=3, after=2) == ([3, 4, 5], True, 7)
    assert page(limit=3, after=5) == ([6, 7], False, 7)
    assert page(after=2, before=5) == ([3, 4], False, 7)
    first = client.get(url, {"limit": 1}).json()["messages"][0]
    assert first["kind"] == "user"
    assert first["attachment"] is None
    assert (first["author"], first["body"], first["client_id"]) == ("alice", "m7", "c7")


@pytest.mark.parametrize(
    "query",
    [{"limit": 0}, {"limit": 101}, {"before": 0}, {"after": -1}, {"before": "x"}, {"limit": 2**70}],
)
def test_history_refuses_bad_cursors(alice: User, room: Room, query: dict[str, Any]) -> None:
    response = bearer(token_for(alice)).get(f"/api/rooms/{room.slug}/messages/", query)
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid"


def test_non_member_is_refused_history_and_posting_in_a_private_room(
    alice: User, bob: User, private_room: Room
) -> None:
    services.message_post(room_id=private_room.pk, author=alice, body="psst", client_id="p1")
    client = bearer(token_for(bob))
    url = f"/api/rooms/{private_room.slug}/messages/"
    for response in (client.get(url), post_json(client, url, {"body": "hello?"})):
        assert response.status_code == 404
        assert error_of(response)["code"] == "room_not_found"
        assert b"psst" not in response.content
    assert Message.objects.count() == 1
    assert bearer(token_for(alice)).get(url).json()["messages"][0]["body"] == "psst"


# --- posting ----------------------------------------------------------------------------


def test_post_returns_the_saved_message_and_is_idempotent_by_client_id(
    alice: User, room: Room
) -> None:
    client = bearer(token_for(alice))
    url = f"/api/rooms/{room.slug}/messages/"
    first = post_json(client, url, {"body": "deploy done", "client_id": "job-1"})
    assert first.status_code == 201
    message = first.json()
    assert (message["seq"], message["author"], message["body"]) == (1, "alice", "deploy done")
    assert (message["room"], message["client_id"], message["kind"]) == ("general", "job-1", "user")
    again = post_json(client, url, {"body": "deploy done", "client_id": "job-1"})
    assert again.json() == message
    generated = post_json(client, url, {"body": "no client id"}).json()
    assert generated["seq"] == 2
    assert generated["client_id"]
    assert Message.objects.count() == 2


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"body": "   "}, "empty_body"),
        ({"body": "x" * 4001}, "body_too_long"),
        ({"body": "nul \x00 byte"}, "bad_body"),
        ({"body": "lone \ud800"}, "bad_body"),
        ({"body": "ok", "client_id": "x" * 65}, "bad_client_id"),
        ({"body": "ok", "client_id": "tab\there"}, "bad_client_id"),
        ({}, "invalid"),
        ({"body": ["x"]}, "invalid"),
        ([1, 2], "invalid"),
    ],
)
def test_post_validation_uses_the_websocket_error_codes(
    alice: User, room: Room, data: Any, code: str
) -> None:
    response = post_json(bearer(token_for(alice)), f"/api/rooms/{room.slug}/messages/", data)
    assert response.status_code == 400
    assert error_of(response)["code"] == code
    assert not Message.objects.exists()


def test_moderation_applies_to_http_posts(alice: User, bob: User, room: Room) -> None:
    staff = User.objects.create(username="mod", is_staff=True)
    url = f"/api/rooms/{room.slug}/messages/"
    services.sanction_create(kind="mute", user=bob, room=room, reason="calm down", actor=staff)
    muted = post_json(bearer(token_for(bob)), url, {"body": "but"})
    assert muted.status_code == 403
    assert error_of(muted)["code"] == "muted"
    assert bearer(token_for(bob)).get(url).status_code == 200  # muted users still read
    services.room_lock(room=room, locked=True, actor=staff)
    locked = post_json(bearer(token_for(alice)), url, {"body": "hello"})
    assert locked.status_code == 403
    assert error_of(locked)["code"] == "room_locked"
    assert post_json(bearer(token_for(staff)), url, {"body": "staff only"}).status_code == 201
    assert list(Message.objects.values_list("body", flat=True)) == ["staff only"]


@pytest.mark.django_db(transaction=True)
async def test_http_and_websocket_sends_draw_from_one_rate_limit_bucket(
    redis_url: str, open_socket: Open, alice: User, room: Room
) -> None:
    """Over Redis, as on a real deployment: two WebSocket sends empty a bucket of 3 and
    the HTTP post that follows gets the third token; the next one a 429."""
    limits_env = {
        "REDIS_URL": redis_url,
        "CHAT_LAYER_PREFIX": f"t{uuid.uuid4().hex[:8]}",
        "CHAT_MESSAGE_BURST": 3,
        "CHAT_MESSAGE_RATE_PER_SECOND": 0.01,
    }
    secret = await database_sync_to_async(token_for)(alice)
    with override_settings(**limits_env):
        comm = await open_socket(alice, f"/ws/chat/{room.slug}/")
        assert (await comm.connect())[0]
        await comm.receive_json_from()
        for n in range(2):
            await comm.send_json_to(
                {"type": "message.send", "body": f"ws{n}", "client_id": f"w{n}"}
            )
            frames = {(await comm.receive_json_from(timeout=5))["type"] for _ in range(2)}
            assert frames == {"ack", "message"}
        url = f"/api/rooms/{room.slug}/messages/"
        client = bearer(secret)
        third = await sync_to_async(post_json)(client, url, {"body": "http 1"})
        assert third.status_code == 201
        refused = await sync_to_async(post_json)(client, url, {"body": "http 2"})
        assert refused.status_code == 429
        error = error_of(refused)
        assert error["code"] == "rate_limited"
        assert error["retry_after"] > 1
        assert int(refused["Retry-After"]) >= 1
        await comm.send_json_to({"type": "message.send", "body": "ws again", "client_id": "w9"})
        frame = await comm.receive_json_from(timeout=5)
        assert frame["message"]["body"] == "http 1"  # the HTTP post, broadcast
        frame = await comm.receive_json_from(timeout=5)
        assert frame.get("code") == "rate_limited", frame
    bodies = await database_sync_to_async(
        lambda: list(Message.objects.order_by("seq").values_list("body", flat=True))
    )()
    assert bodies == ["ws0", "ws1", "http 1"]


@pytest.mark.django_db(transaction=True)
@override_settings(CHAT_MESSAGE_BURST=2, CHAT_MESSAGE_RATE_PER_SECOND=0.01)
async def test_rate_limit_without_redis_answers_429_with_retry_after(
    alice: User, room: Room
) -> None:
    from django.test import AsyncClient

    secret = await database_sync_to_async(token_for)(alice)
    client = AsyncClient()
    url = f"/api/rooms/{room.slug}/messages/"
    responses = [
        await client.post(
            url,
            {"body": f"m{n}"},
            content_type="application/json",
            headers={"Authorization": f"Bearer {secret}"},
        )
        for n in range(3)
    ]
    assert [r.status_code for r in responses] == [201, 201, 429], responses[0].content


# --- live delivery ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_token_authenticated_post_reaches_websocket_clients_live(
    open_socket: Open, alice: User, bob: User, room: Room
) -> None:
    secret = await database_sync_to_async(token_for)(alice, "bot")
    listener = await open_socket(bob, f"/ws/chat/{room.slug}/")
    assert (await listener.connect())[0]
    assert (await listener.receive_json_from())["type"] == "hello"
    response = await sync_to_async(post_json)(
        bearer(secret),
        f"/api/rooms/{room.slug}/messages/",
        {"body": "build green", "client_id": "b1"},
    )
    assert response.status_code == 201
    frame = await listener.receive_json_from(timeout=5)
    assert frame == {"type": "message", "room": room.slug, "message": response.json()}
    assert response.json()["mentions"] == []
    assert frame["message"]["author"] == "alice"


@pytest.mark.django_db(transaction=True)
async def test_system_messages_from_sync_async_and_announce_reach_clients(
    open_socket: Open, bob: User, room: Room
) -> None:
    listener = await open_socket(bob, f"/ws/chat/{room.slug}/")
    assert (await listener.connect())[0]
    await listener.receive_json_from()
    sent = await sync_to_async(services.message_post_system)(room_id=room.pk, body="maintenance")
    await services.message_post_system_async(room_id=room.pk, body="from async code")
    await sync_to_async(call_command)("announce", room.slug, "deploy at 5")
    got = [(await listener.receive_json_from(timeout=5))["message"] for _ in range(3)]
    assert [(m["kind"], m["author"], m["body"]) for m in got] == [
        ("system", None, "maintenance"),
        ("system", None, "from async code"),
        ("system", None, "deploy at 5"),
    ]
    assert got[0] == sent
    # In history too, as system messages.
    hello_again = await open_socket(bob, f"/ws/chat/{room.slug}/")
    assert (await hello_again.connect())[0]
    history = (await hello_again.receive_json_from())["history"]
    assert [m["kind"] for m in history] == ["system"] * 3


def test_announce_refuses_unknown_rooms_and_empty_text(room: Room) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No room"):
        call_command("announce", "nowhere", "hello")
    with pytest.raises(CommandError, match="empty"):
        call_command("announce", room.slug, "  ")
    assert not Message.objects.exists()


@pytest.mark.django_db(transaction=True)
async def test_message_post_async_posts_as_a_user(alice: User, room: Room) -> None:
    message = await services.message_post_async(
        room_id=room.pk, author=alice, body="async hello", client_id="as1"
    )
    assert (message["author"], message["kind"], message["seq"]) == ("alice", "user", 1)


# --- schema, docs and the token settings page -------------------------------------------


def test_schema_and_docs_are_served_without_inline_script() -> None:
    schema = Client().get("/api/schema/", headers={"accept": "application/json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {
        "/api/rooms/",
        "/api/rooms/{slug}/",
        "/api/rooms/{slug}/messages/",
        "/api/rooms/{slug}/images/",
        "/api/attachments/{attachment_id}/",
    } <= set(paths)
    docs = Client().get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "<script>" not in html
    assert "cdn" not in html.lower()
    assert "script-src 'self'" in docs["Content-Security-Policy"]


def test_token_settings_page_creates_shows_once_and_revokes(alice: User, bob: User) -> None:
    client = session(alice)
    created = client.post("/settings/tokens/", {"action": "create", "name": "deploy bot"})
    assert created.status_code == 200
    secret = created.context["created"].secret
    assert secret in created.content.decode()
    listing = client.get("/settings/tokens/").content.decode()
    assert "deploy bot" in listing
    assert secret not in listing
    assert bearer(secret).get("/api/rooms/").status_code == 200
    token = ApiToken.objects.get()
    # Someone else cannot revoke it.
    session(bob).post("/settings/tokens/", {"action": "revoke", "token": token.pk})
    assert ApiToken.objects.filter(pk=token.pk).exists()
    revoked = client.post("/settings/tokens/", {"action": "revoke", "token": token.pk})
    assert revoked.status_code == 302
    assert not ApiToken.objects.exists()
    assert bearer(secret).get("/api/rooms/").status_code == 401
    assert Client().get("/settings/tokens/").status_code == 302  # log in first


def test_staff_create_and_revoke_tokens_in_the_admin(alice: User) -> None:
    staff = User.objects.create(username="admin", is_staff=True, is_superuser=True)
    client = session(staff)
    page = client.post("/admin/chat/apitoken/add/", {"user": alice.pk, "name": "for alice"})
    assert page.status_code == 200
    secret = page.context["secret"]
    assert secret in page.content.decode()
    token = ApiToken.objects.get()
    assert (token.user, token.name) == (alice, "for alice")
    assert bearer(secret).get("/api/rooms/").json() is not None
    client.post(f"/admin/chat/apitoken/{token.pk}/delete/", {"post": "yes"})
    assert not ApiToken.objects.exists()
    assert bearer(secret).get("/api/rooms/").status_code == 401
    actions = set(AuditLog.objects.values_list("action", flat=True))
    assert {"token.create", "token.revoke"} <= actions


def test_muted_sanction_model_is_unchanged_by_the_api(bob: User, room: Room) -> None:
    # Guard against the API creating sanctions or rooms as a side effect of reads.
    rooms_before = Room.objects.count()
    bearer(token_for(bob)).get(f"/api/rooms/{room.slug}/messages/")
    assert not Sanction.objects.exists()
    assert Room.objects.count() == rooms_before


def test_the_openapi_schema_is_valid_and_complete(tmp_path: Any) -> None:
    # --fail-on-warn: every view's request and responses are described, none guessed.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yml"))
    schema = (tmp_path / "s.yml").read_text()
    assert "bearerAuth" in schema
    assert "multipart/form-data" in schema


@pytest.mark.django_db(transaction=True)
async def test_an_http_post_in_a_request_thread_shares_the_process_group_commit(
    alice: User, room: Room
) -> None:
    """Under daphne each request's sync code runs in a thread of its own
    (ThreadSensitiveContext): its post is saved by the event loop's group commit, in the
    same batches as socket sends, with the same answer."""
    secret = await database_sync_to_async(token_for)(alice)
    commit = group_commit.current()
    before = commit.batches
    url = f"/api/rooms/{room.slug}/messages/"
    async with ThreadSensitiveContext():  # what Django's ASGI handler does per request
        created = await sync_to_async(post_json)(bearer(secret), url, {"body": "batched"})
    assert created.status_code == 201
    assert commit.batches == before + 1
    saved = await database_sync_to_async(Message.objects.get)(body="batched")
    assert created.json()["seq"] == saved.seq
