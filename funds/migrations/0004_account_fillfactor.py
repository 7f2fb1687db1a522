"""Room on each page of the accounts table, so the year-end settlement's update of a million balances is HOT.

The balance columns carry no index: with free space on the page, PostgreSQL writes the new row version
beside the old one and touches no index (a heap-only tuple). The settlement updates every row of a page in
one transaction, whose old versions cannot be pruned before it commits, so a page needs room for a second
copy of all its rows: half the page (at 80, only about one row in four found room in a test of a million).
Last year's old versions are pruned when the page is next read, so each year finds the room again.
Fillfactor applies to pages written from now on; an existing large table takes it fully after
``VACUUM FULL funds_individualaccount`` in a quiet hour.
SQLite has no such setting.
"""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE funds_individualaccount SET (fillfactor = 50)")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE funds_individualaccount RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("funds", "0003_interest_settlement")]

    operations = [migrations.RunPython(forwards, backwards)]
