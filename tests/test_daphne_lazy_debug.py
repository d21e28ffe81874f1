"""The adapter's lazy_debug patch (chatsite/daphne_adapter/lazy_debug.py): autobahn's
per-connection debug line is formatted only when it is written. Patches land on a
stand-in module here, never on autobahn's."""

import pprint
import types
from typing import Any

from daphne.ws_protocol import WebSocketProtocol

from chatsite.daphne_adapter import checks, lazy_debug
from chatsite.daphne_adapter.internals import _defining_module
from tests.test_daphne_adapter import fake_internals


class Counted:
    """A value that counts how often it is turned into text."""

    def __init__(self) -> None:
        self.reprs = 0

    def __repr__(self) -> str:
        self.reprs += 1
        return "counted"


def test_the_real_opening_module_is_autobahns_and_calls_pprint() -> None:
    module = _defining_module(WebSocketProtocol, "_connectionMade")
    assert module is not None
    assert module.__name__ == "autobahn.websocket.protocol"
    assert module.pformat in (pprint.pformat, lazy_debug.lazy_pformat)


def test_installed_the_line_is_formatted_only_when_written() -> None:
    module = types.SimpleNamespace(pformat=pprint.pformat)
    checks.install(fake_internals(opening_module=module))
    assert module.pformat is lazy_debug.lazy_pformat
    value = Counted()
    attrs: Any = module.pformat([("option", value, "Factory")])
    assert value.reprs == 0  # a debug line that is not written costs nothing
    # What txaio does when the line is written: str.format of the argument.
    template = "\n{attrs}"
    assert template.format(attrs=attrs) == "\n" + pprint.pformat([("option", value, "Factory")])
    assert value.reprs == 2
    # Calls with pprint's options keep pprint's answer.
    assert module.pformat({"a": 1}, width=5) == pprint.pformat({"a": 1}, width=5)


def test_a_module_that_no_longer_calls_pprint_turns_the_patch_off() -> None:
    def own_format(value: object) -> str:
        return "own"

    module = types.SimpleNamespace(pformat=own_format)
    found = fake_internals(opening_module=module)
    assert list(checks.missing(found)) == ["lazy_debug"]
    assert "lazy_debug" not in checks.install(found)
    assert module.pformat is own_format
