from django.urls import include, path

from portal import views

app_name = "portal"

# Each part of the portal keeps its routes in its own module; names stay in the "portal" namespace.
urlpatterns = [
    path("", views.home, name="home"),
    path("", include("portal.urls_work")),  # worklists and time limits
    path("dashboard/", include("portal.urls_dashboard")),
    path("supervision/", include("portal.urls_supervision")),  # targets, assessment, fund warning
    path("reports/", include("portal.urls_reports")),  # the five report sets and public notices
]
