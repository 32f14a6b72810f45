from django.contrib import admin
from django.urls import path

from realtime import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/auth/token", views.issue_token),
    path("api/auth/ticket", views.issue_ticket),
    path("healthz", views.healthz),
    path("readyz", views.readyz),
]
