"""Web Push end to end: a browser's subscription registered through the API, a message
that notifies its user, and a local HTTP server playing the push service. The test
holds the subscription's own keys, so it checks what a browser would: the VAPID
signature and the RFC 8291 payload, decrypted. The real push services are outside the
project; the encryption and the HTTP are real."""

import base64
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client
from py_vapid import Vapid
from py_vapid import jwt as vapid_jwt

from chat import services
from chat.models import Membership, Room, Sanction
from notify import push, subscriptions
from notify.management.commands.vapid_keys import vapid_key_pair
from notify.models import PushSubscription
from notify.tasks import message_notify

API = "/api/push/subscriptions/"
CSRF_SECRET = "a" * 32  # an unmasked CSRF secret: cookie and header must match
VAPID_PUBLIC, VAPID_PRIVATE = vapid_key_pair()
SUBJECT = "mailto:ops@chat.example"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Pushed:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class PushService:
    """Plays a push service: records each POST, answers with the status set per path."""

    base: str
    received: list[Pushed] = field(default_factory=list)
    status: dict[str, int] = field(default_factory=dict)

    def endpoint(self, name: str) -> str:
        return f"{self.base}/push/{name}"


@pytest.fixture
def push_service() -> Iterator[PushService]:
    service = PushService(base="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {name.lower(): value for name, value in self.headers.items()}
            service.received.append(Pushed(self.path, headers, body))
            self.send_response(service.status.get(self.path, 201))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    service.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield service
    server.shutdown()
    server.server_close()


@pytest.fixture
def push_on(settings: Any) -> None:
    settings.CHAT_VAPID_PUBLIC_KEY = VAPID_PUBLIC
    settings.CHAT_VAPID_PRIVATE_KEY = VAPID_PRIVATE
    settings.CHAT_VAPID_SUBJECT = SUBJECT
    settings.CHAT_PUSH_ALLOW_HOSTS = ["127.0.0.1"]


@dataclass
class Device:
    """A browser's side of a subscription: the keys only it holds."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @classmethod
    def new(cls, endpoint: str) -> "Device":
        return cls(endpoint, ec.generate_private_key(ec.SECP256R1()), os.urandom(16))

    @property
    def p256dh(self) -> str:
        return b64url(
            self.private_key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )

    def as_json(self) -> dict[str, Any]:
        """What PushSubscription.toJSON() gives the page."""
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": b64url(self.auth)},
        }

    def decrypt(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(
            body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm"
        )
        decoded: dict[str, Any] = json.loads(plain)
        return decoded


def browser(user: User) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.cookies["csrftoken"] = CSRF_SECRET
    return client


def call(client: Client, method: str, body: dict[str, Any], csrf: bool = True) -> Any:
    headers = {"X-CSRFToken": CSRF_SECRET} if csrf else {}
    return client.generic(
        method, API, json.dumps(body), content_type="application/json", headers=headers
    )


@pytest.fixture
def subscribe(push_service: PushService) -> Callable[[User, str], Device]:
    def subscribe_(user: User, name: str) -> Device:
        device = Device.new(push_service.endpoint(name))
        response = call(browser(user), "POST", device.as_json())
        assert response.status_code == 201, response.content
        return device

    return subscribe_


def post(room: Room, author: User, body: str) -> int:
    message = services.message_post(
        room_id=room.pk, author=author, body=body, client_id=f"c{time.monotonic_ns()}"
    )
    message_notify.call([{"message_id": message["id"]}])  # the job, run here and now
    return message["id"]


@pytest.fixture
def carol(make_user: Callable[..., User]) -> User:
    return make_user("carol")


@pytest.fixture
def team(alice: User, bob: User) -> Room:
    """A private room of alice's where bob is told of every message."""
    room = services.room_create(slug="team", name="Team", topic="", creator=alice, is_private=True)
    services.membership_add(room=room, user=bob, actor=alice)
    Membership.objects.filter(room=room, user=bob).update(notify_level="all")
    return room


@pytest.mark.usefixtures("push_on")
def test_direct_message_arrives_encrypted_and_signed(
    alice: User, bob: User, push_service: PushService, subscribe: Callable[[User, str], Device]
) -> None:
    device = subscribe(bob, "bob-phone")
    dm = services.dm_open(user=alice, other=bob)
    message_id = post(dm, alice, "are you there? 🙂")

    [pushed] = push_service.received
    assert pushed.path == "/push/bob-phone"
    # VAPID (RFC 8292): signed by the server's key, for this push service's origin.
    scheme, params = pushed.headers["authorization"].split(" ", 1)
    parts = dict(item.split("=", 1) for item in params.split(","))
    assert scheme == "vapid"
    assert parts["k"] == VAPID_PUBLIC
    claims = vapid_jwt.decode(parts["t"], parts["k"])
    assert claims["aud"] == push_service.base
    assert claims["sub"] == SUBJECT
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    assert pushed.headers["content-encoding"] == "aes128gcm"
    assert pushed.headers["ttl"] == str(push.PUSH_TTL_SECONDS)
    assert pushed.headers["urgency"] == "high"
    assert pushed.headers["topic"] == f"room{dm.pk}"
    assert device.decrypt(pushed.body) == {
        "type": "message",
        "room": dm.slug,
        "room_name": dm.name,
        "is_direct": True,
        "seq": 1,
        "message_id": message_id,
        "author": "alice",
        "body": "are you there? 🙂",
        "mention": False,
        "created_at": device.decrypt(pushed.body)["created_at"],
        "thread": None,  # not a reply in a thread
        "thread_excerpt": "",
        "url": f"/chat/{dm.slug}/?seq=1",
        "tag": f"chat-room-{dm.slug}",
        "icon": "/static/chat/icons/icon-192.png",
        "badge": "/static/chat/icons/badge-96.png",
    }
    assert PushSubscription.objects.get(endpoint=device.endpoint).last_success_at is not None


@pytest.mark.usefixtures("push_on")
def test_every_device_of_a_member_is_told_and_nobody_else(
    alice: User,
    bob: User,
    carol: User,
    team: Room,
    push_service: PushService,
    subscribe: Callable[[User, str], Device],
) -> None:
    phone, laptop = subscribe(bob, "bob-phone"), subscribe(bob, "bob-laptop")
    subscribe(carol, "carol-phone")  # not a member of the private room
    subscribe(alice, "alice-phone")  # the author
    post(team, alice, "standup moved to 10")
    assert sorted(p.path for p in push_service.received) == ["/push/bob-laptop", "/push/bob-phone"]
    for pushed, device in zip(
        sorted(push_service.received, key=lambda p: p.path), [laptop, phone], strict=True
    ):
        payload = device.decrypt(pushed.body)
        assert (payload["room"], payload["body"], payload["is_direct"]) == (
            "team",
            "standup moved to 10",
            False,
        )
        assert pushed.headers["urgency"] == "normal"


@pytest.mark.usefixtures("push_on")
def test_removed_member_gets_nothing(
    alice: User,
    bob: User,
    team: Room,
    push_service: PushService,
    subscribe: Callable[[User, str], Device],
) -> None:
    subscribe(bob, "bob-phone")
    services.membership_remove(room=team, user=bob, actor=alice)
    post(team, alice, "after bob left")
    assert push_service.received == []


@pytest.mark.usefixtures("push_on")
@pytest.mark.parametrize("where", ["room", "site"])
def test_banned_member_gets_nothing(
    where: str,
    alice: User,
    bob: User,
    team: Room,
    push_service: PushService,
    subscribe: Callable[[User, str], Device],
) -> None:
    subscribe(bob, "bob-phone")
    Sanction.objects.create(
        kind=Sanction.Kind.BAN, user=bob, room=team if where == "room" else None, reason="spam"
    )
    post(team, alice, "while bob is banned")
    assert push_service.received == []


@pytest.mark.usefixtures("push_on")
@pytest.mark.parametrize("answer", [404, 410])
def test_subscription_the_push_service_ended_is_deleted(
    answer: int,
    alice: User,
    bob: User,
    team: Room,
    push_service: PushService,
    subscribe: Callable[[User, str], Device],
) -> None:
    gone, alive = subscribe(bob, "bob-old-phone"), subscribe(bob, "bob-phone")
    push_service.status["/push/bob-old-phone"] = answer
    post(team, alice, "hello")
    assert len(push_service.received) == 2
    assert list(PushSubscription.objects.values_list("endpoint", flat=True)) == [alive.endpoint]
    assert not PushSubscription.objects.filter(endpoint=gone.endpoint).exists()


@pytest.mark.usefixtures("push_on")
def test_other_failures_keep_the_subscription_and_are_logged(
    alice: User,
    bob: User,
    team: Room,
    push_service: PushService,
    subscribe: Callable[[User, str], Device],
    caplog: pytest.LogCaptureFixture,
) -> None:
    device = subscribe(bob, "bob-phone")
    push_service.status["/push/bob-phone"] = 503
    post(team, alice, "hello")
    assert len(push_service.received) == 1  # tried once, not again and again
    subscription = PushSubscription.objects.get(endpoint=device.endpoint)
    assert subscription.last_success_at is None
    assert f"web push to {push_service.base} failed: status 503" in caplog.text
    assert "bob-phone" not in caplog.text  # the endpoint's path is the device's secret


@pytest.mark.usefixtures("push_on")
def test_unreachable_push_service_is_a_logged_failure(
    alice: User, bob: User, team: Room, caplog: pytest.LogCaptureFixture
) -> None:
    device = Device.new("http://127.0.0.1:9/push/nobody")  # the discard port: refused
    assert call(browser(bob), "POST", device.as_json()).status_code == 201
    post(team, alice, "hello")
    assert PushSubscription.objects.filter(endpoint=device.endpoint).exists()
    assert "web push to http://127.0.0.1:9 failed: ConnectionError" in caplog.text


@pytest.mark.usefixtures("push_on")
def test_no_push_without_vapid_keys(
    settings: Any,
    alice: User,
    bob: User,
    team: Room,
    push_service: PushService,
    subscribe: Callable[[User, str], Device],
) -> None:
    subscribe(bob, "bob-phone")
    settings.CHAT_VAPID_PRIVATE_KEY = ""
    post(team, alice, "hello")
    assert push_service.received == []


# --- The subscription API ----------------------------------------------------------


@pytest.mark.usefixtures("push_on")
def test_registering_again_refreshes_and_moves_to_the_user_now_logged_in(
    alice: User, bob: User, push_service: PushService
) -> None:
    device = Device.new(push_service.endpoint("shared-laptop"))
    assert call(browser(alice), "POST", device.as_json()).status_code == 201
    response = call(browser(bob), "POST", device.as_json())
    assert response.status_code == 200
    assert response.json() == {"endpoint": device.endpoint, "created": False}
    assert PushSubscription.objects.get(endpoint=device.endpoint).user == bob


@pytest.mark.usefixtures("push_on")
def test_a_user_keeps_at_most_the_newest_subscriptions(
    alice: User, push_service: PushService
) -> None:
    client = browser(alice)
    for n in range(subscriptions.MAX_SUBSCRIPTIONS_PER_USER + 2):
        device = Device.new(push_service.endpoint(f"device-{n}"))
        assert call(client, "POST", device.as_json()).status_code == 201
    kept = PushSubscription.objects.filter(user=alice)
    assert kept.count() == subscriptions.MAX_SUBSCRIPTIONS_PER_USER
    assert kept.filter(endpoint=device.endpoint).exists()


def bad(device: Device, **changes: Any) -> dict[str, Any]:
    body = device.as_json()
    keys = {**body["keys"], **changes.pop("keys", {})}
    return {**body, **changes, "keys": keys}


@pytest.mark.usefixtures("push_on")
@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"keys": {"p256dh": b64url(b"\x04" + bytes(64))}}, "bad_keys"),  # not on the curve
        ({"keys": {"p256dh": b64url(os.urandom(33))}}, "bad_keys"),
        ({"keys": {"auth": b64url(os.urandom(8))}}, "bad_keys"),
        ({"keys": {"auth": "not base64!"}}, "bad_keys"),
        ({"keys": {"p256dh": ""}}, "invalid"),
        ({"endpoint": "http://push.example.com/x"}, "bad_endpoint"),
        ({"endpoint": "https://10.0.0.5/x"}, "bad_endpoint"),
        ({"endpoint": "https://[::1]/x"}, "bad_endpoint"),
        ({"endpoint": "https://localhost/x"}, "bad_endpoint"),
        ({"endpoint": "https://metadata.internal/x"}, "bad_endpoint"),
        ({"endpoint": "https://intranet/x"}, "bad_endpoint"),
        ({"endpoint": "https://push.example.com:8443/x"}, "bad_endpoint"),
        ({"endpoint": "https://user:pw@push.example.com/x"}, "bad_endpoint"),
        ({"endpoint": "ftp://push.example.com/x"}, "bad_endpoint"),
        ({"endpoint": "https://push.example.com/" + "x" * 1000}, "invalid"),
    ],
)
def test_invalid_subscriptions_are_refused(
    changes: dict[str, Any], code: str, alice: User, push_service: PushService
) -> None:
    device = Device.new(push_service.endpoint("alice-phone"))
    response = call(browser(alice), "POST", bad(device, **changes))
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code
    assert not PushSubscription.objects.exists()


@pytest.mark.usefixtures("push_on")
def test_a_public_push_service_is_accepted_without_being_listed(settings: Any, alice: User) -> None:
    settings.CHAT_PUSH_ALLOW_HOSTS = []
    device = Device.new("https://fcm.googleapis.com/fcm/send/abc:def")
    assert call(browser(alice), "POST", device.as_json()).status_code == 201
    device = Device.new("http://127.0.0.1:8000/push/x")  # now not listed: refused
    assert call(browser(alice), "POST", device.as_json()).status_code == 400


@pytest.mark.usefixtures("push_on")
def test_session_requests_need_the_csrf_token_and_a_login(
    alice: User, push_service: PushService
) -> None:
    device = Device.new(push_service.endpoint("alice-phone"))
    response = call(browser(alice), "POST", device.as_json(), csrf=False)
    assert (response.status_code, response.json()["error"]["code"]) == (403, "csrf_failed")
    anonymous = Client(enforce_csrf_checks=True)
    assert call(anonymous, "POST", device.as_json()).status_code == 401
    assert not PushSubscription.objects.exists()


@pytest.mark.usefixtures("push_on")
def test_only_ones_own_subscription_can_be_deleted(
    alice: User, bob: User, subscribe: Callable[[User, str], Device]
) -> None:
    device = subscribe(bob, "bob-phone")
    response = call(browser(alice), "DELETE", {"endpoint": device.endpoint})
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    assert PushSubscription.objects.filter(endpoint=device.endpoint).exists()
    assert call(browser(bob), "DELETE", {"endpoint": device.endpoint}).status_code == 204
    assert not PushSubscription.objects.exists()


def test_the_public_key_is_served_only_when_push_is_on(settings: Any, alice: User) -> None:
    client = browser(alice)
    response = client.get("/api/push/key/")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "push_off")
    settings.CHAT_VAPID_PUBLIC_KEY, settings.CHAT_VAPID_PRIVATE_KEY = VAPID_PUBLIC, VAPID_PRIVATE
    assert client.get("/api/push/key/").json() == {"public_key": VAPID_PUBLIC}


# --- The installable app: worker, manifest, page ----------------------------------------


def test_service_worker_is_served_at_the_root_and_never_cached_stale(client: Client) -> None:
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    assert response["Cache-Control"] == "no-cache"
    assert response["Service-Worker-Allowed"] == "/"
    assert b'addEventListener("push"' in response.content
    again = client.get("/sw.js", headers={"If-None-Match": response["ETag"]})
    assert again.status_code == 304


def test_manifest_makes_the_site_installable(client: Client) -> None:
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/manifest+json"
    manifest = response.json()
    assert (manifest["start_url"], manifest["display"]) == ("/", "standalone")
    assert manifest["theme_color"] == "#24324a"
    sizes = {(icon["sizes"], icon["purpose"]) for icon in manifest["icons"]}
    assert sizes == {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")}
    for icon in manifest["icons"]:
        assert finders.find(icon["src"].removeprefix("/static/")), icon["src"]


@pytest.mark.django_db
def test_page_links_manifest_and_key_and_keeps_the_strict_csp(settings: Any, alice: User) -> None:
    client = Client()
    client.force_login(alice)
    page = client.get("/rooms/").content.decode()
    assert '<link rel="manifest" href="/manifest.webmanifest">' in page
    assert 'name="vapid-key"' not in page  # push is off: nothing to subscribe with
    settings.CHAT_VAPID_PUBLIC_KEY, settings.CHAT_VAPID_PRIVATE_KEY = VAPID_PUBLIC, VAPID_PRIVATE
    response = client.get("/rooms/")
    assert f'<meta name="vapid-key" content="{VAPID_PUBLIC}">' in response.content.decode()
    csp = response["Content-Security-Policy"]
    # Directives in any order (the last one has no trailing ";").
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert "unsafe" not in csp
    assert 'name="vapid-key"' not in Client().get("/accounts/login/").content.decode()


def test_vapid_keys_command_prints_a_working_pair(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("vapid_keys")
    lines = dict(line.split("=", 1) for line in capsys.readouterr().out.split())
    vapid = Vapid.from_string(private_key=lines["CHAT_VAPID_PRIVATE_KEY"])
    public = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert b64url(public) == lines["CHAT_VAPID_PUBLIC_KEY"]
    assert len(public) == subscriptions.P256DH_BYTES


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (201, push.Outcome.SENT),
        (404, push.Outcome.GONE),
        (410, push.Outcome.GONE),
        (413, push.Outcome.FAILED),
        (429, push.Outcome.FAILED),
        (None, push.Outcome.FAILED),
    ],
)
def test_what_a_push_service_answer_means(status: int | None, outcome: push.Outcome) -> None:
    assert push.outcome_for_status(status) is outcome
