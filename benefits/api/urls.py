"""The benefits API under /api/v1/."""

urlpatterns: list = []
