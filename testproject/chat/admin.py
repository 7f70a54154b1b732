from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from . import tokens
from .models import ApiToken, ChatMessage, ChatRoom


@admin.register(ChatRoom)
class ChatRoomAdmin(admin.ModelAdmin):
    """Members edited here take effect on their open connections at once (see signals.py)."""

    list_display = ["title", "id", "created"]
    search_fields = ["title"]
    filter_horizontal = ["members"]


@admin.register(ChatMessage)
class ChatMessageAdmin(admin.ModelAdmin):
    list_display = ["created", "room", "author", "text"]
    list_filter = ["room"]
    list_select_related = ["room", "author"]
    search_fields = ["text"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Adding a token issues it and shows it once; only its public selector is listed. Delete one to revoke it."""

    list_display = ["user", "selector", "created"]
    list_select_related = ["user"]
    search_fields = ["user__username", "selector"]
    fields = ["user"]

    def has_change_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False  # a token is issued or deleted, never edited: its digest cannot be

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        obj.set_token(tokens.new_token())
        super().save_model(request, obj, form, change)

    def response_add(self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None) -> HttpResponse:
        """A page with the new token, rather than a message: messages may be stored (in the session's table)."""
        context = {**self.admin_site.each_context(request), "token": obj, "opts": self.opts, "title": "Token issued"}
        return TemplateResponse(request, "admin/chat/apitoken/issued.html", context)
