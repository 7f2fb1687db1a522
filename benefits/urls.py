"""The benefits pages under /benefits/: claims and awards (``urls_claims``), money and cases (``urls_money``)."""

from benefits import urls_claims, urls_money

app_name = "benefits"

urlpatterns = [*urls_claims.urlpatterns, *urls_money.urlpatterns]
