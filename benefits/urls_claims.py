"""Claims, awards, parameters, back pay review, the turning-60 list and the eligibility checks."""

urlpatterns: list = []
