"""Routes of the fund accounts and the three-way reconciliation, included by ``funds.urls`` (namespace ``funds``).

The county fund officer works them; the city supervisor reads them."""

from django.urls import path

from funds import views_funds

urlpatterns = [
    # 基金账户（收入户、支出户、财政专户）
    path("fund-accounts/", views_funds.fund_accounts_overview, name="fund_accounts"),
    path("fund-accounts/sweep/", views_funds.fund_sweep, name="fund_sweep"),
    path("fund-accounts/finance-receipt/", views_funds.fund_finance_receipt, name="fund_finance_receipt"),
    path("fund-accounts/bank/", views_funds.fund_account_bank, name="fund_account_bank"),
    path("fund-accounts/<int:pk>/", views_funds.fund_account_detail, name="fund_account_detail"),
    path("fund-accounts/<int:pk>/movements.xlsx", views_funds.fund_movements_xlsx, name="fund_movements_xlsx"),
    # 银行对账单
    path("fund-accounts/<int:pk>/statements/", views_funds.fund_statements, name="fund_statements"),
    path("fund-statements/<int:pk>/", views_funds.fund_statement_detail, name="fund_statement_detail"),
    # 三方对账
    path("reconciliation/", views_funds.fund_reconciliation, name="fund_reconciliation"),
    path("reconciliation/differences/", views_funds.fund_differences, name="fund_differences"),
    path("reconciliation/differences/<int:pk>/", views_funds.fund_difference_detail, name="fund_difference_detail"),
    path("reconciliation/differences/<int:pk>/clear/", views_funds.fund_difference_clear, name="fund_difference_clear"),
    path("reconciliation/confirmations/", views_funds.fund_confirmations, name="fund_confirmations"),
]
