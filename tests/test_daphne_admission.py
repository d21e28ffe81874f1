"""The daphne adapter's admission patches: the listen backlog, the early 503 while a
process starts or stops, and the restart close frame (chatsite/daphne_adapter/backlog.py,
admission.py, sigterm.py). The other patches are tested in test_daphne_adapter.py."""

from chatsite.daphne_adapter import admission, backlog, checks, sigterm
from tests.test_daphne_adapter import fake_internals


def test_the_listen_backlog_goes_to_every_endpoint_that_names_none() -> None:
    assert backlog.with_backlog("tcp:port=8001:interface=127.0.0.1", 1024) == (
        "tcp:port=8001:interface=127.0.0.1:backlog=1024"
    )
    assert backlog.with_backlog("unix:/run/chat.sock", 64) == "unix:/run/chat.sock:backlog=64"
    # An endpoint's own backlog wins; kinds without one, and 0, are left alone.
    assert backlog.with_backlog("tcp:8001:backlog=10", 1024) == "tcp:8001:backlog=10"
    assert backlog.with_backlog("fd:fileno=3", 1024) == "fd:fileno=3"
    assert backlog.with_backlog("tcp:8001", 0) == "tcp:8001"
    found = fake_internals()
    assert "listen_backlog" in checks.install(found)
    server = found.server(endpoints=["tcp:port=8001:interface=127.0.0.1"])
    server.run()
    assert server.endpoints == ["tcp:port=8001:interface=127.0.0.1:backlog=1024"]


def test_while_starting_or_stopping_a_request_is_answered_503_before_the_app() -> None:
    from twisted.web.test.requesthelper import DummyRequest

    gate = admission.Gate()
    assert gate.refusing  # starting
    gate.serve()
    assert not gate.refusing
    gate.drain()
    assert gate.refusing
    request = DummyRequest([b"readyz"])
    admission.refuse(request)
    assert request.responseCode == 503
    assert request.responseHeaders.getRawHeaders(b"retry-after") == [b"1"]
    assert request.finished


def test_the_restart_close_frame_carries_the_code_and_the_spread() -> None:
    frame = sigterm.close_frame(1012, "spread=20")
    assert frame[0] == 0x88  # FIN + close, unmasked
    assert frame[1] == len(frame) - 2 == 2 + len("spread=20")
    assert int.from_bytes(frame[2:4], "big") == 1012
    assert frame[4:] == b"spread=20"
    assert len(sigterm.close_frame(1012, "x" * 500)) == 2 + 125  # a control frame's most
