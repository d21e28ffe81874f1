"""Requests to `/hooks/<key>` in-process: the same ASGI router daphne serves it with
(integrations/http.py routes it before Django, so Django's test Client cannot reach it)."""

from dataclasses import dataclass
from http.cookies import SimpleCookie

from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator
from requests.structures import CaseInsensitiveDict

from integrations.http import hooks_app


@dataclass
class HookResponse:
    status_code: int
    content: bytes
    headers: CaseInsensitiveDict[str]

    @property
    def cookies(self) -> SimpleCookie:
        found = SimpleCookie()
        if "set-cookie" in self.headers:
            found.load(self.headers["set-cookie"])
        return found


def hook_call(
    method: str,
    path: str,
    body: bytes = b"",
    content_type: str = "application/json",
    content_length: int | None = None,
    host: str = "testserver",
) -> HookResponse:
    headers = [
        (b"host", host.encode()),
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body) if content_length is None else content_length).encode()),
    ]
    communicator = HttpCommunicator(hooks_app, method, path, body=body, headers=headers)
    response = async_to_sync(communicator.get_response)(timeout=10)
    return HookResponse(
        status_code=int(response["status"]),
        content=bytes(response["body"]),
        headers=CaseInsensitiveDict(
            {bytes(k).decode("latin-1"): bytes(v).decode("latin-1") for k, v in response["headers"]}
        ),
    )


def hook_post(key: str, body: bytes | str, content_type: str = "application/json") -> HookResponse:
    data = body.encode() if isinstance(body, str) else body
    return hook_call("POST", f"/hooks/{key}", data, content_type)
