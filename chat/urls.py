from django.urls import path

from chat.pages import people, tokens, views

app_name = "chat"

urlpatterns = [
    path("", views.browse, name="index"),
    path("rooms/", views.browse, name="browse"),
    path("rooms/<slug:slug>/join/", views.room_join, name="room_join"),
    path("rooms/<slug:slug>/leave/", views.room_leave, name="room_leave"),
    path("rooms/new/", views.room_create, name="room_create"),
    path("chat/<slug:slug>/", views.room, name="room"),
    path("chat/<slug:slug>/members/", views.room_members, name="room_members"),
    path("dm/<str:username>/", views.dm, name="dm"),
    path("people/", people.people, name="people"),
    path("settings/tokens/", tokens.token_settings, name="tokens"),
]
