from django.urls import path

from funds.api import views

# By insurance number, the number on the person's card; enrollment's /persons/<int:pk>/ routes have no "account".
urlpatterns = [
    path("persons/<str:insurance_no>/account/", views.AccountView.as_view(), name="person-account"),
    path(
        "persons/<str:insurance_no>/account/entries/", views.AccountEntriesView.as_view(), name="person-account-entries"
    ),
]
