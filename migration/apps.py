from django.apps import AppConfig


class MigrationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "migration"

    def ready(self) -> None:
        # Which records of each kind go into the archives, and how (archives sits above and backfills them).
        from agencies.records import register_source
        from migration.records import SOURCES

        for source in SOURCES:
            register_source(source)
