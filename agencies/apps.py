from django.apps import AppConfig
from django.db import connections
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


def _sync_freeze_guards(sender, using: str = "default", **kwargs) -> None:
    """After migrate or a test flush: triggers follow the freeze rows, so a flushed freeze leaves none behind."""
    from agencies.freeze import guards_sync
    from agencies.models import RegionFreeze

    if RegionFreeze._meta.db_table in connections[using].introspection.table_names():
        guards_sync(using=using)


class AgenciesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "agencies"

    def ready(self) -> None:
        from agencies.freeze import register_sqlite_function

        connection_created.connect(register_sqlite_function, dispatch_uid="agencies.freeze.sqlite_function")
        # Sent once per app: listening for this app's signal alone runs the sync once per migrate or flush.
        post_migrate.connect(_sync_freeze_guards, sender=self, dispatch_uid="agencies.freeze.post_migrate")
