"""The chat page (a login form until the visitor logs in) and the HTTP endpoint that posts a message."""

from __future__ import annotations

import json
import uuid

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import guessing, services
from .exceptions import ChatError, InvalidText, NotAMember, RoomNotFound, ServiceUnavailable, TooFast, TooManyFailures

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
    try:
        user = token_user(request)
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
        message = services.post_message(user, room, body["text"], request_uuid=str(uuid.uuid4()))
    except ChatError as exc:
        return error_response(exc)
    return JsonResponse(message, status=201)


def token_user(request: HttpRequest) -> AbstractBaseUser | None:
    """The user of the request's token; a request with no token is no failed attempt, a wrong token is."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "token":
        return None
    return services.user_for_token(key.strip(), guessing.client_address(request.META.get("REMOTE_ADDR")))


STATUS = {
    RoomNotFound: 404,
    NotAMember: 403,
    InvalidText: 400,
    TooFast: 429,
    TooManyFailures: 429,
    ServiceUnavailable: 503,
}


def error_response(exc: ChatError) -> JsonResponse:
    """The status of each error ``post_message`` may raise, with Retry-After where waiting helps."""
    response = JsonResponse({"error": str(exc)}, status=STATUS[type(exc)])
    if isinstance(exc, TooFast | TooManyFailures):
        response["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, ServiceUnavailable):
        response["Retry-After"] = "5"
    return response
