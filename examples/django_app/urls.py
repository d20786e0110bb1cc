"""The routes of docs/examples.md, the same paths as the Flask and bare WSGI apps."""

from __future__ import annotations

from django.urls import path

from examples.django_app import views

urlpatterns = [
    path("", views.index),
    path("page", views.page),
    path("custom-header", views.custom_header),
    path("set-cookie", views.set_cookie),
    path("get-cookie", views.get_cookie),
    path("delete-cookie", views.delete_cookie),
    path("login", views.login),
    path("dashboard", views.dashboard),
    path("data", views.data),
    path("hello", views.hello),
    path("api/protected", views.protected),
    path("set-theme/<str:theme>", views.set_theme),
    path("preferences", views.preferences),
]

handler400 = "examples.django_app.views.bad_request"
handler404 = "examples.django_app.views.not_found"
handler500 = "examples.django_app.views.server_error"
