"""URLs under /api/: the endpoints, the OpenAPI schema and its readable docs."""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from chat.api import errors, files, people, reactions, search, threads, views

app_name = "api"

urlpatterns = [
    path("rooms/", views.RoomListView.as_view(), name="rooms"),
    path("rooms/<slug:slug>/", views.RoomDetailView.as_view(), name="room"),
    path("rooms/<slug:slug>/messages/", views.MessageListView.as_view(), name="messages"),
    path("rooms/<slug:slug>/images/", views.ImageCreateView.as_view(), name="images"),
    path("rooms/<slug:slug>/files/", files.FileCreateView.as_view(), name="files"),
    path(
        "rooms/<slug:slug>/messages/<int:message_id>/reactions/",
        reactions.ReactionView.as_view(),
        name="reactions",
    ),
    path("attachments/<int:attachment_id>/", views.AttachmentView.as_view(), name="attachment"),
    path(
        "attachments/<int:attachment_id>/thumbnail/",
        views.AttachmentView.as_view(thumbnail=True),
        name="attachment_thumbnail",
    ),
    path("search/", search.SearchView.as_view(), name="search"),
    path("threads/", threads.ThreadListView.as_view(), name="threads"),
    path("users/", people.UserListView.as_view(), name="users"),
    path("users/<str:username>/", people.UserDetailView.as_view(), name="user"),
    path("users/<str:username>/avatar/", views.UserAvatarView.as_view(), name="user_avatar"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script,
    # so script-src stays 'self'. Swagger UI sets inline styles, allowed on this page only.
    path(
        "docs/",
        csp_update({"style-src": [UNSAFE_INLINE]})(
            SpectacularSwaggerSplitView.as_view(url_name="api:schema")
        ),
        name="docs",
    ),
    re_path(r"^.*$", errors.not_found),
]
