"""work pages of the portal (see portal/urls.py): the whole queue with due dates, and the time limits."""

from django.urls import path

from portal import views_work

urlpatterns = [
    path("work/queue/", views_work.work_queue, name="work_queue"),
    path("work/time-limits/", views_work.time_limits, name="time_limits"),
]
