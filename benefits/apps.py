from django.apps import AppConfig


class BenefitsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "benefits"

    def ready(self) -> None:
        # Settled PAYOUT lines reach benefits through funds' registry (funds never imports upward).
        from benefits.bank import PAYOUT_HANDLER
        from funds.batch_handlers import register

        register(PAYOUT_HANDLER)
