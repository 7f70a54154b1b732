from django.contrib import admin

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
    list_display = ["user", "key", "created"]
    list_select_related = ["user"]
    search_fields = ["user__username"]
