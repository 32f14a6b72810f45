from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from core import views as pages
from realtime import views

urlpatterns = [
    path("", pages.app, name="app"),
    path("login/", pages.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/auth/token", views.issue_token),
    path("api/auth/ticket", views.issue_ticket),
    path("healthz", views.healthz),
    path("readyz", views.readyz),
]
