from django.urls import path

from contributions import views

app_name = "contributions"

urlpatterns = [
    path("persons/<int:pk>/", views.person_contributions, name="person"),
    path("persons/<int:pk>/tier/", views.tier_choice, name="tier_choice"),
    path("persons/<int:pk>/payment/", views.counter_payment, name="counter_payment"),
    path("persons/<int:pk>/donation/", views.donation, name="donation"),
    path("tier-choices/batch/", views.tier_batch, name="tier_batch"),
    path("tier-choices/template/", views.tier_template_for, name="tier_template_for"),
    path("villages/<int:pk>/tier-template.xlsx", views.tier_template, name="tier_template"),
    path("collective-subsidies/", views.collective_subsidies, name="collective_subsidies"),
    path("renewals/", views.renewals, name="renewals"),
    path("renewals.xlsx", views.renewals_xlsx, name="renewals_xlsx"),
    path("policies/", views.policies, name="policies"),
    path("policies/new/", views.policy_add, name="policy_add"),
    path("policies/interest-rates/", views.interest_rate_add, name="interest_rate_add"),
    # 银行代扣：下发批次（县级基金管理员），失败跟进（村协理员等）
    path("bank/deduct/", views.deduct_issue, name="deduct_issue"),
    path("bank/follow-ups/", views.deduct_follow_ups, name="deduct_follow_ups"),
    path("bank/follow-ups.xlsx", views.deduct_follow_ups_xlsx, name="deduct_follow_ups_xlsx"),
]
