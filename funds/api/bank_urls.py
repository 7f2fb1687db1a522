"""The partner banks' API, included under /api/v1/bank/ (see ``funds.api.bank``)."""

from django.urls import include, path

from funds.api import bank

# A batch is addressed by its 24-character number; the file and the result have no trailing slash, as in the contract.
urlpatterns = [
    path("batches/", bank.BatchListView.as_view(), name="bank-batch-list"),
    path("batches/<str:batch_no>/", bank.BatchDetailView.as_view(), name="bank-batch-detail"),
    path("batches/<str:batch_no>/file", bank.BatchFileView.as_view(), name="bank-batch-file"),
    path("batches/<str:batch_no>/result", bank.BatchResultView.as_view(), name="bank-batch-result"),
    path("receipts/<int:receipt_id>/", bank.ReceiptDetailView.as_view(), name="bank-receipt-detail"),
    path("counter-payments/", bank.CounterPaymentView.as_view(), name="bank-counter-payment"),
    path("", include("funds.api.bank_statement_urls")),
]
