from django.apps import AppConfig


class ArchivesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "archives"
    verbose_name = "档案管理"

    def ready(self) -> None:
        from agencies.records import register_filer
        from archives.services import record_file

        register_filer(record_file)
