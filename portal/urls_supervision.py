"""supervision pages of the portal (see portal/urls.py): targets, the offices' assessment, the fund warning."""

from django.urls import path

from portal import views_supervision as views

urlpatterns: list = [
    path("targets/", views.targets_page, name="supervision_targets"),
    path("targets/set/", views.target_set, name="supervision_target_set"),
    path("targets/import/", views.target_import, name="supervision_target_import"),
    path("targets/template/", views.target_template, name="supervision_target_template"),
    path("assessment/", views.assessment_page, name="supervision_assessment"),
    path("assessment/entry/", views.assessment_entry, name="supervision_assessment_entry"),
    path("funds/", views.funds_page, name="supervision_funds"),
    path("funds/threshold/", views.fund_warning_set, name="supervision_fund_warning_set"),
]
