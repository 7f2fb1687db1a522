"""Fund movements are append-only in the database too, as the individual-account ledger is (0002)."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION funds_movement_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'funds_fundmovement is append-only: % refused; book a reversing movement instead', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER funds_movement_append_only
    BEFORE UPDATE OR DELETE ON funds_fundmovement
    FOR EACH ROW EXECUTE FUNCTION funds_movement_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS funds_movement_append_only ON funds_fundmovement;
DROP FUNCTION IF EXISTS funds_movement_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("funds", "0007_bank_partners_batches_fund_accounts")]

    operations = [migrations.RunPython(forwards, backwards)]
