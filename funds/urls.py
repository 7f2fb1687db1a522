from django.urls import include, path

from funds import views, views_bank

app_name = "funds"

urlpatterns = [
    path("persons/<int:pk>/account/", views.account_detail, name="account_detail"),
    path("persons/<int:pk>/statement/", views.statement, name="statement"),
    path("persons/<int:pk>/statement.xlsx", views.statement_xlsx, name="statement_xlsx"),
    path("statements/", views.village_statements, name="village_statements"),
    path("villages/<int:pk>/statements/", views.village_statements_print, name="village_statements_print"),
    path("villages/<int:pk>/statements.xlsx", views.village_statements_xlsx, name="village_statements_xlsx"),
    # 合作银行与接口密钥（系统管理员）
    path("bank/partners/", views_bank.partner_list, name="partner_list"),
    path("bank/partners/new/", views_bank.partner_add, name="partner_add"),
    path("bank/partners/<int:pk>/", views_bank.partner_detail, name="partner_detail"),
    path("bank/partners/<int:pk>/edit/", views_bank.partner_edit, name="partner_edit"),
    path("bank/partners/<int:pk>/deactivate/", views_bank.partner_deactivate, name="partner_deactivate"),
    path("bank/partners/<int:pk>/credentials/", views_bank.credential_issue, name="credential_issue"),
    path("bank/credentials/<int:pk>/rotate/", views_bank.credential_rotate, name="credential_rotate"),
    path("bank/credentials/<int:pk>/revoke/", views_bank.credential_revoke, name="credential_revoke"),
    # 银行批次与回盘（县级基金管理员；市级监管员只读）
    path("bank/batches/", views_bank.batch_list, name="batch_list"),
    path("bank/batches/<int:pk>/", views_bank.batch_detail, name="batch_detail"),
    path("bank/batches/<int:pk>/file", views_bank.batch_download, name="batch_download"),
    path("", include("funds.urls_funds")),
]
