"""The bank-statement endpoint of the bank API (another change fills this in; included by ``bank_urls``)."""

urlpatterns: list = []
