"""dashboard pages of the portal (see portal/urls.py)."""

from django.urls import path

from portal import views_dashboard

urlpatterns = [
    path("", views_dashboard.dashboard, name="dashboard"),
]
