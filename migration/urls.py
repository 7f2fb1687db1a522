"""The merger pages, under /merger/. A route's id names the record the scope checks (project, step, package or
test-load), so the scope matrix finds each route's model from its view."""

from django.urls import path

from migration import views

app_name = "migration"

urlpatterns = [
    path("", views.project_list, name="project_list"),
    path("new/", views.project_create, name="project_create"),
    path("<int:pk>/", views.project_detail, name="project_detail"),
    path("<int:pk>/events/", views.project_events, name="events"),
    path("<int:pk>/settle/", views.settle_confirm, name="settle_confirm"),
    path("<int:pk>/freeze/", views.freeze_apply, name="freeze_apply"),
    path("<int:pk>/unfreeze/", views.freeze_lift, name="freeze_lift"),
    path("<int:pk>/export/", views.export_start, name="export_start"),
    path("<int:pk>/upload/", views.package_upload, name="package_upload"),
    path("<int:pk>/mapping/", views.mapping_page, name="mapping"),
    path("<int:pk>/mapping/file/", views.mapping_load, name="mapping_load"),
    path("<int:pk>/mapping/confirm/", views.mapping_confirm, name="mapping_confirm"),
    path("<int:pk>/mapping/identity/", views.mapping_identity, name="mapping_identity"),
    path("<int:pk>/lists/deduction.xlsx", views.deduction_list_xlsx, name="deduction_list"),
    path("<int:pk>/lists/payout.xlsx", views.payout_list_xlsx, name="payout_list"),
    path("<int:pk>/fund-transfer/", views.fund_transfer, name="fund_transfer"),
    path("<int:pk>/cutover/", views.cutover, name="cutover"),
    path("<int:pk>/survey/", views.survey_page, name="survey"),
    path("steps/<int:pk>/progress/", views.step_progress, name="step_progress"),
    path("packages/<int:pk>/download/", views.package_download, name="package_download"),
    path("packages/<int:pk>/testload/", views.testload_start, name="testload_start"),
    path("packages/<int:pk>/import/", views.import_start, name="import_start"),
    path("testloads/<int:pk>/", views.testload_detail, name="testload_detail"),
    path("testloads/<int:pk>/findings.xlsx", views.testload_xlsx, name="testload_xlsx"),
]
