from django.urls import path

from enrollment import views

app_name = "enrollment"

urlpatterns = [
    path("persons/", views.person_list, name="person_list"),
    path("persons/<int:pk>/", views.person_detail, name="person_detail"),
    path("persons/<int:pk>/change/", views.change, name="change"),
    path("persons/<int:pk>/cancel/", views.cancel, name="cancel"),
    path("persons/<int:pk>/special-groups/", views.special_group_add, name="special_group_add"),
    path("register/", views.register, name="register"),
    path("register/check-id/", views.check_id, name="check_id"),
    path("applications/<int:pk>/", views.application_detail, name="application_detail"),
    path("applications/<int:pk>/proof/", views.application_proof, name="application_proof"),
    path("applications/<int:pk>/accept/", views.application_accept, name="application_accept"),
    path("applications/<int:pk>/return/", views.application_return, name="application_return"),
    path("applications/<int:pk>/approve/", views.application_approve, name="application_approve"),
    path("applications/<int:pk>/resubmit/", views.application_resubmit, name="application_resubmit"),
    path("applications/<int:pk>/withdraw/", views.application_withdraw, name="application_withdraw"),
    path("comparison/", views.comparison, name="comparison"),
    path("comparison/flags/<int:pk>/resolve/", views.flag_resolve, name="flag_resolve"),
]
