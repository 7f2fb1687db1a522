from django.apps import AppConfig


class FundsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "funds"

    def ready(self) -> None:
        # Which records of each kind go into the archives, and how (archives sits above and backfills them).
        from agencies.records import register_source
        from funds.records import SOURCES

        for source in SOURCES:
            register_source(source)
