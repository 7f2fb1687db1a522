from django.urls import path
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import SimpleRouter

from agencies.api.views import RegionViewSet

router = SimpleRouter(use_regex_path=False)
router.register("regions", RegionViewSet, basename="region")

urlpatterns = [
    # Machines trade a username and password for a token once, then send "Authorization: Token <key>".
    path("auth/token/", obtain_auth_token, name="api-token"),
    *router.urls,
]
