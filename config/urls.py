from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

api_v1 = [
    path("", include("agencies.api.urls")),
    path("", include("enrollment.api.urls")),
    path("", include("funds.api.urls")),
    path("", include("contributions.api.urls")),
    path("", include("benefits.api.urls")),
    path("bank/", include("funds.api.bank_urls")),
]

urlpatterns = [
    path("", include("portal.urls")),
    path("enrollment/", include("enrollment.urls")),
    path("contributions/", include("contributions.urls")),
    path("funds/", include("funds.urls")),
    path("benefits/", include("benefits.urls")),
    path("merger/", include("migration.urls")),
    path("archives/", include("archives.urls")),
    path("login/", auth_views.LoginView.as_view(template_name="registration/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
