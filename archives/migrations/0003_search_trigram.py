from django.db import migrations

# Full-text search of the forms' fields is a substring match (Chinese has no word breaks to index): on PostgreSQL a
# trigram index serves it; SQLite scans.


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS archive_item_search_trgm ON archives_archiveitem "
        "USING gin (search_text gin_trgm_ops)"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS archive_item_search_trgm")


class Migration(migrations.Migration):
    dependencies = [("archives", "0002_standard_kinds")]

    operations = [migrations.RunPython(create, drop)]
