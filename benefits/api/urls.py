"""The benefits API under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from benefits.api import views

# Plain path converters: ids are integers, so "/awards/abc/" is a 404 before any query runs.
router = SimpleRouter(use_regex_path=False)
router.register("pension-parameters", views.PensionParametersViewSet, basename="pension-parameters")
router.register("claims", views.ClaimViewSet, basename="claim")
router.register("awards", views.AwardViewSet, basename="award")
router.register("arrears", views.ArrearViewSet, basename="arrear")
router.register("payroll-runs", views.PayrollRunViewSet, basename="payroll-run")
router.register("death-lists", views.DeathListLoadViewSet, basename="death-list")
router.register("overpayments", views.OverpaymentViewSet, basename="overpayment")
router.register("transfers", views.TransferViewSet, basename="transfer")

urlpatterns = [
    path("turning-60/", views.Turning60View.as_view(), name="turning-60"),
    path("deaths/", views.DeathRecordView.as_view(), name="death-record"),
    path("death-settlements/", views.DeathSettlementView.as_view(), name="death-settlement"),
    path("other-pension-stops/", views.OtherPensionStopView.as_view(), name="other-pension-stop"),
    *router.urls,
]
