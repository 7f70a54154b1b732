from django.contrib import admin
from django.urls import include, path

from channels_fanout.operations.prometheus import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("metrics", metrics_view),  # the layer's counters for Prometheus (docs/operations.md)
    path("", include("testproject.chat.urls")),
]
