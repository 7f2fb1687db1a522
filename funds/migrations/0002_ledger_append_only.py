"""The ledger is append-only in the database itself, not only in Python.

On PostgreSQL a trigger refuses any UPDATE or DELETE of a ledger row, whoever sends it (a raw SQL
session, a bulk job, a careless migration). TRUNCATE stays possible for the test runner's flush and
for a deliberate, whole-table operation by the database owner. SQLite (development only) relies on
the model's and queryset's refusals.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION funds_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'funds_ledgerentry is append-only: % refused; append a reversing entry instead', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER funds_ledger_append_only
    BEFORE UPDATE OR DELETE ON funds_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION funds_ledger_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS funds_ledger_append_only ON funds_ledgerentry;
DROP FUNCTION IF EXISTS funds_ledger_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # A cursor without parameters: the "%" in RAISE must reach PostgreSQL as it is.
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("funds", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
