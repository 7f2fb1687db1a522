from django.urls import path

from funds import views

app_name = "funds"

urlpatterns = [
    path("persons/<int:pk>/account/", views.account_detail, name="account_detail"),
    path("persons/<int:pk>/statement/", views.statement, name="statement"),
    path("persons/<int:pk>/statement.xlsx", views.statement_xlsx, name="statement_xlsx"),
    path("statements/", views.village_statements, name="village_statements"),
    path("villages/<int:pk>/statements/", views.village_statements_print, name="village_statements_print"),
    path("villages/<int:pk>/statements.xlsx", views.village_statements_xlsx, name="village_statements_xlsx"),
]
