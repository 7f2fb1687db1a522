"""Claims, awards, parameters, back pay review, the turning-60 list and the eligibility checks."""

from django.urls import path

from benefits import views_claims as views

urlpatterns: list = [
    path("claims/", views.claim_list, name="claim_list"),
    path("claims/new/", views.claim_start, name="claim_start"),
    path("claims/new/<int:pk>/", views.claim_new, name="claim_new"),
    path("claims/<int:pk>/", views.claim_detail, name="claim_detail"),
    path("claims/<int:pk>/accept/", views.claim_accept, name="claim_accept"),
    path("claims/<int:pk>/return/", views.claim_return, name="claim_return"),
    path("claims/<int:pk>/approve/", views.claim_approve, name="claim_approve"),
    path("claims/<int:pk>/resubmit/", views.claim_resubmit, name="claim_resubmit"),
    path("claims/<int:pk>/withdraw/", views.claim_withdraw, name="claim_withdraw"),
    path("claims/<int:pk>/application-form/", views.claim_print, name="claim_print"),
    path("claims/<int:pk>/notice/", views.claim_notice, name="claim_notice"),
    path("awards/", views.award_list, name="award_list"),
    path("awards/<int:pk>/", views.award_detail, name="award_detail"),
    path("awards/<int:pk>/suspend/", views.award_suspend, name="award_suspend"),
    path("awards/<int:pk>/resume/", views.award_resume, name="award_resume"),
    path("awards/<int:pk>/stop/", views.award_stop, name="award_stop"),
    path("awards/<int:pk>/yearly-check/", views.award_yearly_check, name="award_yearly_check"),
    path("turning-60/", views.turning_60, name="turning_60"),
    path("turning-60.xlsx", views.turning_60_xlsx, name="turning_60_xlsx"),
    path("parameters/", views.parameters, name="parameters"),
    path("parameters/new/", views.parameters_add, name="parameters_add"),
    path("arrears/", views.arrears, name="arrears"),
    path("arrears/approve/", views.arrears_approve, name="arrears_approve"),
    path("confirmations/", views.confirmations, name="confirmations"),
    path("confirmations/confirm-all/", views.confirmation_confirm_all, name="confirmation_confirm_all"),
    path("confirmations/<int:pk>/confirm/", views.confirmation_confirm, name="confirmation_confirm"),
    path("confirmations/<int:pk>/stop/", views.confirmation_stop, name="confirmation_stop"),
    path("stop-list/", views.stop_list, name="stop_list"),
]
