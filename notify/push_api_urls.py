"""The Web Push subscription API, mounted at /api/push/ by chatsite/urls.py ahead of
chat's /api/ (whose catch-all answers unknown paths with a JSON 404)."""

from django.urls import path

from notify import push_views

urlpatterns = [
    path("subscriptions/", push_views.PushSubscriptionView.as_view(), name="push-subscriptions"),
    path("key/", push_views.PushKeyView.as_view(), name="push-key"),
]
