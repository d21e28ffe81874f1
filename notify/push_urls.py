"""Web Push URLs at the site root: the service worker (its scope is the path it is
served from, so it must be /sw.js) and the web app manifest. The subscription API is
under /api/push/ (notify/push_api_urls.py)."""

from django.urls import path

from notify import push_views

urlpatterns = [
    path("sw.js", push_views.service_worker, name="push-service-worker"),
    path("manifest.webmanifest", push_views.manifest, name="push-manifest"),
]
