"""Payroll, deaths and overpayments, death settlements, transfers."""

from django.urls import path

from benefits import views_money as views

urlpatterns: list = [
    # 月度发放
    path("payroll/", views.payroll_list, name="payroll_list"),
    path("payroll/prepare/", views.payroll_prepare, name="payroll_prepare"),
    path("payroll/<int:pk>/", views.payroll_detail, name="payroll_detail"),
    path("payroll/<int:pk>/prepare/", views.payroll_reprepare, name="payroll_reprepare"),
    path("payroll/<int:pk>/confirm/", views.payroll_confirm, name="payroll_confirm"),
    path("payroll/<int:pk>/progress/", views.payroll_progress, name="payroll_progress"),
    path("payroll/<int:pk>/funding-request/", views.payroll_funding_request, name="payroll_funding_request"),
    path("payroll/<int:pk>/funding-approval/", views.payroll_funding_approve, name="payroll_funding_approve"),
    path("payroll/<int:pk>/payout.xlsx", views.payroll_payout_xlsx, name="payroll_payout_xlsx"),
    path("payroll/<int:pk>/bank-batch/", views.payroll_bank_batch, name="payroll_bank_batch"),
    # 死亡名单比对、死亡登记
    path("deaths/", views.death_lists, name="death_lists"),
    path("deaths/loads/<int:pk>/", views.death_list_detail, name="death_list_detail"),
    path("deaths/persons/<int:pk>/", views.death_record_person, name="death_record_person"),
    path("deaths/awards/<int:pk>/", views.death_record_award, name="death_record_award"),
    path("persons/find/", views.person_find, name="person_find"),
    # 多发待遇追回
    path("overpayments/", views.overpayments, name="overpayments"),
    path("overpayments/<int:pk>/", views.overpayment_detail, name="overpayment_detail"),
    path("overpayments/<int:pk>/recover/", views.overpayment_recover, name="overpayment_recover"),
    path("overpayments/<int:pk>/offset/", views.overpayment_offset, name="overpayment_offset"),
    path("overpayments/<int:pk>/refer/", views.overpayment_refer, name="overpayment_refer"),
    # 死亡待遇结算、领取职工养老金停发
    path("settlements/persons/<int:pk>/", views.settlement_form, name="settlement_form"),
    path("settlements/<int:pk>/", views.settlement_detail, name="settlement_detail"),
    path("settlements/<int:pk>/proof/", views.settlement_proof, name="settlement_proof"),
    path("other-pension/persons/<int:pk>/", views.other_pension_stop, name="other_pension_stop"),
    # 关系转移
    path("transfers/", views.transfers, name="transfers"),
    path("transfers/request/", views.transfer_request, name="transfer_request"),
    path("transfers/<int:pk>/", views.transfer_detail, name="transfer_detail"),
    path("transfers/<int:pk>/approve/", views.transfer_approve, name="transfer_approve"),
    path("transfers/<int:pk>/book/", views.transfer_book, name="transfer_book"),
    path("transfers/<int:pk>/form/", views.transfer_print, name="transfer_print"),
    path("transfers/to-employees/persons/<int:pk>/", views.transfer_to_employees, name="transfer_to_employees"),
    path("transfers/from-employees/persons/<int:pk>/", views.transfer_from_employees, name="transfer_from_employees"),
]
