"""The chat page (a login form until the visitor logs in) and the HTTP endpoint that posts a message."""

from __future__ import annotations

import json
import uuid

from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import services
from .exceptions import InvalidText, NotAMember, RoomNotFound, ServiceUnavailable, TooFast

login = LoginView.as_view(template_name="chat/login.html")


def index(request: HttpRequest) -> HttpResponseBase:
    """``/``: the login form, then the user's rooms, history, live messages and a box to send.

    Each room comes with the id of its latest message (0 if none), from where the page catches up after a drop.
    """
    if not request.user.is_authenticated:
        return login(request)
    rooms = services.room_list(request.user)
    return render(request, "chat/chat.html", {"rooms": rooms})


@csrf_exempt  # Authenticated by the Authorization header, never by a cookie, so there is no CSRF to guard against.
@require_POST
def post_message(request: HttpRequest, room: str) -> JsonResponse:
    """``POST /api/rooms/<room>/messages/``, ``Authorization: Token <key>``, ``{"text"}``: 201 and the message."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    user = services.token_owner(key.strip()) if scheme.lower() == "token" else None
    if user is None:
        response = JsonResponse({"error": "Send a valid API token: 'Authorization: Token <key>'"}, status=401)
        response["WWW-Authenticate"] = "Token"
        return response
    try:
        body = json.loads(request.body)
    except ValueError:
        body = None
    if not isinstance(body, dict) or "text" not in body:
        return JsonResponse({"error": 'The body must be a JSON object with the key "text"'}, status=400)
    try:
        message = services.post_message(user, room, body["text"], request_uuid=str(uuid.uuid4()))
    except RoomNotFound as exc:
        return JsonResponse({"error": str(exc)}, status=404)
    except NotAMember as exc:
        return JsonResponse({"error": str(exc)}, status=403)
    except InvalidText as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    except TooFast as exc:
        response = JsonResponse({"error": str(exc)}, status=429)
        response["Retry-After"] = str(exc.retry_after)
        return response
    except ServiceUnavailable as exc:
        response = JsonResponse({"error": str(exc)}, status=503)
        response["Retry-After"] = "5"
        return response
    return JsonResponse(message, status=201)
