"""ASGI entry point: `daphne chatsite.asgi:application` serves pages, static files and
WebSockets from one process. Django is set up before anything imports models."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from chat.routing import websocket_urlpatterns  # noqa: E402
from chatsite.lifecycle import install_graceful_shutdown, while_serving  # noqa: E402
from notify import runner  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)

install_graceful_shutdown()
if runner.in_process_wanted():  # background jobs in this process (no separate worker)
    while_serving(runner.in_process_start, runner.in_process_stop)
