import pytest


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings, tmp_path, monkeypatch):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    # Archive scans have a storage of their own, made once when the model loads: point it at the test's folder.
    from django.core.files.storage import FileSystemStorage

    from archives.models import ArchiveFile

    archive_storage = FileSystemStorage(location=str(tmp_path / "archive_files"), base_url=None)
    monkeypatch.setattr(ArchiveFile._meta.get_field("file"), "storage", archive_storage)


def pytest_collection_modifyitems(config, items):
    """Tests marked postgres need row locks and concurrent connections: skip them on SQLite, with the reason."""
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://… (CI always does)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)
