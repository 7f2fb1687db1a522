from django.urls import path
from rest_framework.routers import SimpleRouter

from contributions.api import views

# Plain path converters: ids are integers, so "/contributions/abc/" is a 404 before any query runs.
router = SimpleRouter(use_regex_path=False)
router.register("contribution-policies", views.PolicyViewSet, basename="contribution-policy")
router.register("interest-rates", views.InterestRateViewSet, basename="interest-rate")
router.register("tier-choices", views.TierChoiceViewSet, basename="tier-choice")
router.register("contributions", views.ContributionViewSet, basename="contribution")
router.register("collective-subsidies", views.CollectiveSubsidyViewSet, basename="collective-subsidy")
router.register("donations", views.DonationViewSet, basename="donation")

urlpatterns = [
    path("renewals/", views.RenewalListView.as_view(), name="renewal-list"),
    path("renewals/rates/", views.RenewalRatesView.as_view(), name="renewal-rates"),
    *router.urls,
]
