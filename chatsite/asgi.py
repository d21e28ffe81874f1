"""ASGI entry point: `daphne chatsite.asgi:application` serves pages, static files and
WebSockets from one process. Django is set up before anything imports models."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from channels.sessions import SessionMiddlewareStack  # noqa: E402
from django.urls import re_path  # noqa: E402

from chat.consumers.outage_guard import OutageGuard  # noqa: E402
from chat.routing import websocket_urlpatterns  # noqa: E402
from chatsite import daphne_adapter  # noqa: E402
from integrations.http import http_urlpatterns as hook_urlpatterns  # noqa: E402
from notify import runner  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Incoming webhooks answer before Django's middleware (integrations/http.py).
        "http": URLRouter([*hook_urlpatterns, re_path(r"", django_asgi_app)]),  # type: ignore[arg-type]
        # A database away at the handshake refuses it quietly (chat/consumers/outage_guard.py).
        # The session's user is resolved by the chat consumer's first database call
        # (chat/consumers/opening.py), not by channels' AuthMiddleware in a call of its own.
        "websocket": OutageGuard(
            AllowedHostsOriginValidator(SessionMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)

# Background jobs run in this process unless a separate worker runs them.
jobs = [(runner.in_process_start, runner.in_process_stop)] if runner.in_process_wanted() else []
daphne_adapter.start(while_serving=jobs)
