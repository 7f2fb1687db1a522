from django.db import DatabaseError, migrations, transaction

# Full-text search of the forms' fields is a substring match (Chinese has no word breaks to index): on PostgreSQL a
# trigram index serves it; SQLite scans.


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError:
        # A database user that may not create extensions: searches still work, by a scan. docs/archives.md says
        # how a DBA adds the extension and the index later.
        return
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
