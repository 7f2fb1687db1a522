"""reports pages of the portal (see portal/urls.py): the monthly report set and the villages' public notices."""

from django.urls import path

from portal import views_reports

urlpatterns = [
    path("", views_reports.report_index, name="reports"),
    path("files/<int:pk>/", views_reports.report_download, name="report_download"),
    path("notices/paid/", views_reports.notice_paid, name="notice_paid"),
    path("notices/recipients/", views_reports.notice_recipients, name="notice_recipients"),
]
