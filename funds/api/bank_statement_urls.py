"""The bank-statement endpoint of the bank API (included under ``/api/v1/bank/``)."""

from django.urls import path

from funds.api.bank_statements import BankStatementView

urlpatterns = [
    path(
        "statements/<str:account_number>/<str:statement_date>",
        BankStatementView.as_view(),
        name="bank-statement-upload",
    ),
]
