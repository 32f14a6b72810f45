from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from core import views as pages
from realtime import views
from rooms import views as room_views
from roundtables import views as roundtable_views

urlpatterns = [
    path("", pages.app, name="app"),
    path("login/", pages.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/auth/token", views.issue_token),
    path("api/auth/ticket", views.issue_ticket),
    path("api/rooms/<int:room_id>/messages/<str:message_id>/acks.csv", room_views.acks_csv),
    path("api/roundtables/<int:roundtable_id>/transcript.json",
         roundtable_views.transcript_json),
    path("api/roundtables/<int:roundtable_id>/transcript.md", roundtable_views.transcript_md),
    path("healthz", views.healthz),
    path("readyz", views.readyz),
]
