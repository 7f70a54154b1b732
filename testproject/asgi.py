"""The ASGI application daphne serves: Django over HTTP, the chat consumer over WebSocket at /ws/chat/."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")
# Set up Django before importing anything that touches models (the consumer does).
django_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from testproject.chat.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Plain daphne serves no static files; in DEBUG the demo serves its own, as runserver would.
        "http": ASGIStaticFilesHandler(django_application) if settings.DEBUG else django_application,
        # 403 to a handshake whose Origin is not on a host of ALLOWED_HOSTS: a page of another site could otherwise
        # open a socket with its visitor's session cookie and chat as them.
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
