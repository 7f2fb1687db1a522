from django.apps import AppConfig


class ArchivesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "archives"
    verbose_name = "档案管理"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from agencies.records import register_filer
        from archives.services import record_file

        register_filer(record_file)
        post_migrate.connect(_kinds_after_migrate, sender=self)


def _kinds_after_migrate(sender, using: str = "default", **kwargs) -> None:
    from archives.kinds import ensure_standard_kinds

    ensure_standard_kinds(using=using)
