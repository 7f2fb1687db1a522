from django.urls import path
from rest_framework.routers import SimpleRouter

from enrollment.api import views

# Plain path converters: ids are integers, so "/persons/abc/" is a 404 before any query runs.
router = SimpleRouter(use_regex_path=False)
router.register("persons", views.PersonViewSet, basename="person")
router.register("applications", views.ApplicationViewSet, basename="application")
router.register("employee-register-loads", views.EmployeeRegisterLoadViewSet, basename="employee-register-load")
router.register("dual-enrollment-flags", views.DualEnrollmentFlagViewSet, basename="dual-enrollment-flag")

urlpatterns = [
    path("id-check/", views.IdCheckView.as_view(), name="id-check"),
    *router.urls,
]
