"""The rules outgoing requests follow, without a database: which messages trigger an
outgoing webhook (integrations/triggers.py) and where the server may send a request at
all (chat/ops/egress.py, shared by outgoing webhooks, custom commands and Web Push). Kept
apart from tests/test_outgoing_hooks.py, whose tests are transactional: these need no
database and pay no flush."""

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from chat.ops import egress
from integrations.triggers import HookRule, Seen, trigger_match
from tests.hook_receiver import Receiver, hook_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with hook_receiver() as found:
        yield found


# --- triggers (pure) -------------------------------------------------------------------

RULE = HookRule(("!deploy", "build"), on_mention=True, on_all=False, bot_username="deploy-bot")


@pytest.mark.parametrize(
    ("body", "mentions", "by_bot", "in_dm", "expected"),
    [
        ("!deploy web now", (), False, False, "!deploy"),
        ("BUILD please", (), False, False, "BUILD"),
        ("please !deploy", (), False, False, False),
        ("!deployed", (), False, False, False),
        ("hey @deploy-bot", ("deploy-bot",), False, False, None),
        ("hey @olga", ("olga",), False, False, False),
        ("anything", (), False, True, None),
        ("!deploy from a bot", (), True, False, False),
        ("a bot in the DM", (), True, True, False),
    ],
)
def test_trigger_table(
    body: str, mentions: tuple[str, ...], by_bot: bool, in_dm: bool, expected: str | bool | None
) -> None:
    match = trigger_match(RULE, Seen(body, mentions, by_bot, in_dm))
    if expected is False:
        assert match is None
    else:
        assert match is not None
        assert match.trigger_word == expected


def test_every_message_rule_matches_all_but_bots() -> None:
    rule = HookRule((), on_mention=False, on_all=True, bot_username="b")
    assert trigger_match(rule, Seen("hello", (), False, False)) is not None
    assert trigger_match(rule, Seen("hello", (), True, False)) is None


# --- the SSRF rule ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("http://127.0.0.1:8000/x", "loopback"),
        ("http://localhost/x", "loopback"),
        ("http://[::1]/x", "loopback"),
        ("http://[::ffff:127.0.0.1]/x", "loopback"),
        ("http://0.0.0.0/x", "unspecified"),
        ("http://10.1.2.3/x", "private"),
        ("http://172.16.0.1/x", "private"),
        ("http://192.168.1.1/x", "private"),
        ("http://[fd12::1]/x", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/x", "link-local"),
        ("http://[fd00:ec2::254]/x", "metadata"),
        ("http://100.100.100.200/x", "metadata"),
        ("http://224.0.0.1/x", "multicast"),
        ("http://240.0.0.1/x", "reserved"),
        ("ftp://93.184.215.14/x", "only http"),
        ("http://user:pw@93.184.215.14/x", "credentials"),
        ("http:///x", "no host"),
    ],
)
def test_egress_refuses_local_and_special_addresses(url: str, refused: str) -> None:
    with pytest.raises(egress.EgressRefused) as caught:
        egress.url_target(url, allow_hosts=[])
    assert refused in caught.value.reason


def test_egress_allows_public_addresses_and_listed_hosts() -> None:
    target = egress.url_target("https://93.184.215.14/hook?a=1", allow_hosts=[])
    assert (target.address, target.port, target.path) == ("93.184.215.14", 443, "/hook?a=1")
    assert (
        egress.url_target("http://127.0.0.1:9/x", allow_hosts=["127.0.0.1"]).address == "127.0.0.1"
    )
    assert egress.address_problem(ipaddress.ip_address("2606:4700::1111")) is None


def test_egress_connects_to_the_address_it_checked(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name is resolved once; the second answer is never asked for."""
    real = socket.getaddrinfo
    answers = iter([[(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", receiver.port))]])

    def rebinding(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.example":
            return next(answers)  # a second lookup raises StopIteration
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    url = f"http://hooks.example:{receiver.port}/hook"
    with pytest.raises(egress.EgressRefused, match="loopback"):
        egress.url_target(url, allow_hosts=[])
    answers = iter([[(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", receiver.port))]])
    target = egress.url_target(url, allow_hosts=["hooks.example"])
    answer = egress.post(
        target, b"{}", {"Content-Type": "application/json"}, timeout=5, max_bytes=100
    )
    assert answer.status == 200
    assert receiver.requests[0].headers["Host"] == f"hooks.example:{receiver.port}"


def test_web_push_uses_the_same_rule_when_it_sends(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A push endpoint on a public-looking name that now resolves inside is not sent to."""
    from notify import push
    from notify.management.commands.vapid_keys import vapid_key_pair

    _, settings.CHAT_VAPID_PRIVATE_KEY = vapid_key_pair()
    settings.CHAT_PUSH_ALLOW_HOSTS = []
    real = socket.getaddrinfo
    connected: list[str] = []

    def inside(host: str, *args: Any, **kwargs: Any) -> Any:
        connected.append(host)
        if host == "push.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", 443))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", inside)
    target = push.Target(7, "https://push.example.com/device", "k", "a", b"{}")
    assert push.push_send([target], {}) == {7: push.Outcome.FAILED}
    assert connected == ["push.example.com"]  # looked up once, by the check; never sent
