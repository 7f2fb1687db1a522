from django.apps import AppConfig


class ContributionsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "contributions"

    def ready(self) -> None:
        # Settled DEDUCT lines reach contributions through funds' registry (funds never imports upward).
        from contributions.bank import DEDUCT_HANDLER
        from funds.batch_handlers import register

        register(DEDUCT_HANDLER)

        # Which records of each kind go into the archives, and how (archives sits above and backfills them).
        from agencies.records import register_source
        from contributions.records import SOURCES

        for source in SOURCES:
            register_source(source)
