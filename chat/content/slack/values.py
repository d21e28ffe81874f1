"""The payload's error and the typed readers that narrow decoded JSON field by field.
Pure: no Django, no I/O. Every reader names the field it refused, so a sender's log
says which one to fix."""

import re
from collections.abc import Mapping

INVALID_PAYLOAD = "invalid_payload"
NO_TEXT = "no_text"

# Valid JSON, not valid UTF-8: nh3 (Rust) refuses lone surrogates, so they become U+FFFD.
_SURROGATE = re.compile("[\ud800-\udfff]")


class PayloadError(Exception):
    """A payload the chat will not post: `code` for programs, `detail` for people."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def invalid(detail: str) -> PayloadError:
    return PayloadError(INVALID_PAYLOAD, detail)


def as_object(value: object, where: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise invalid(f"{where} must be a JSON object, not {_kind(value)}")
    return value


def read_str(obj: Mapping[str, object], key: str, where: str) -> str:
    """obj[key] as text: "" when absent or null."""
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid(f"{where}.{key} must be a string, not {_kind(value)}")
    return _SURROGATE.sub("\ufffd", value)


def read_bool(obj: Mapping[str, object], key: str, where: str) -> bool:
    """obj[key] as a boolean: False when absent or null."""
    value = obj.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid(f"{where}.{key} must be true or false, not {_kind(value)}")
    return value


def read_list(obj: Mapping[str, object], key: str, where: str, limit: int) -> list[object]:
    """obj[key] as a list of at most `limit` items: [] when absent or null."""
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(f"{where}.{key} must be a list, not {_kind(value)}")
    if len(value) > limit:
        raise invalid(f"{where}.{key} holds {len(value)} items; at most {limit} are accepted")
    return value


def read_objects(
    obj: Mapping[str, object], key: str, where: str, limit: int
) -> list[tuple[str, Mapping[str, object]]]:
    """obj[key] as a list of JSON objects, each with the path that names it."""
    found = []
    for index, item in enumerate(read_list(obj, key, where, limit)):
        path = f"{where}.{key}[{index}]"
        found.append((path, as_object(item, path)))
    return found


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
