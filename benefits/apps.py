from django.apps import AppConfig


class BenefitsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "benefits"

    def ready(self) -> None:
        # Settled PAYOUT lines reach benefits through funds' registry (funds never imports upward).
        from benefits.bank import PAYOUT_HANDLER
        from funds.batch_handlers import register

        register(PAYOUT_HANDLER)

        # Which records of each kind go into the archives, and how (archives sits above and backfills them).
        from agencies.records import register_source
        from benefits.records import SOURCES

        for source in SOURCES:
            register_source(source)
