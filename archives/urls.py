"""The archives pages, under /archives/. A route's id names the record the scope checks (item, file, person,
hand-over, review or survey row), so the scope matrix finds each route's model from its view."""

from django.urls import path

from archives import views

app_name = "archives"

urlpatterns = [
    path("", views.item_list, name="item_list"),
    path("items/new/", views.item_create, name="item_create"),
    path("items/<int:pk>/", views.item_detail, name="item_detail"),
    path("items/<int:pk>/attach/", views.item_attach, name="item_attach"),
    path("items/<int:pk>/place/", views.item_place, name="item_place"),
    path("items/<int:pk>/lend/", views.item_lend, name="item_lend"),
    path("items/<int:pk>/return/", views.item_return, name="item_return"),
    path("files/<int:pk>/", views.file_download, name="file_download"),
    path("register/", views.register_page, name="register"),
    path("loans/", views.loan_list, name="loans"),
    path("persons/<int:pk>/", views.person_records, name="person_records"),
    path("custody/", views.custody_page, name="custody"),
    path("handovers/", views.handover_list, name="handover_list"),
    path("handovers/new/", views.handover_create, name="handover_create"),
    path("handovers/<int:pk>/", views.handover_detail, name="handover_detail"),
    path("handovers/<int:pk>/check/", views.handover_check, name="handover_check"),
    path("handovers/<int:pk>/check-all/", views.handover_check_all, name="handover_check_all"),
    path("handovers/<int:pk>/refresh/", views.handover_refresh, name="handover_refresh"),
    path("handovers/<int:pk>/sign-out/", views.handover_sign_out, name="handover_sign_out"),
    path("handovers/<int:pk>/sign-in/", views.handover_sign_in, name="handover_sign_in"),
    path("handovers/<int:pk>/cancel/", views.handover_cancel, name="handover_cancel"),
    path("retention/", views.retention_page, name="retention"),
    path("retention/reviews/<int:pk>/decide/", views.review_decide, name="review_decide"),
    path("survey/", views.survey_page, name="survey"),
    path("survey/<int:pk>/receive/", views.survey_receive, name="survey_receive"),
]
