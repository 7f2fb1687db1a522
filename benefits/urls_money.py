"""Payroll, deaths and overpayments, death settlements, transfers."""

urlpatterns: list = []
