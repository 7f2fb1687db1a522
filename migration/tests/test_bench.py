"""bench merger: refuses SQLite or a database with other data; on PostgreSQL, a small run exports, test-loads and
imports its persons into the target with the balances proved, and prints its figures as the last line."""

import io
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from agencies.models import PoolingRegion
from agencies.tests.factories import region_line
from contributions.models import Contribution
from enrollment.tests.factories import make_person
from funds.models import IndividualAccount, LedgerEntry
from migration import bench
from migration.models import MergerProject, StepState


@pytest.mark.django_db
def test_bench_merger_refuses_sqlite_or_a_database_with_other_data():
    line = region_line()
    make_person(line.village)  # a real person: the bench would TRUNCATE them
    expected = "只在 PostgreSQL 上运行" if connection.vendor == "sqlite" else "基准测试以外的数据"
    with pytest.raises(CommandError, match=expected):
        call_command("bench", "merger", "--persons", "10", stdout=io.StringIO())
    assert MergerProject.objects.count() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # the load truncates and vacuums: outside the test's transaction
def test_bench_merger_moves_every_person_and_proves_the_balances():
    # when
    out = io.StringIO()
    call_command("bench", "merger", "--persons", "50", stdout=out)
    figures = json.loads(out.getvalue().strip().splitlines()[-1])
    # then: 50 persons, one in five a recipient (i = 0, 5, …, 45), ten years each, a tier choice for the odd
    # contributors (25 odd numbers below 50, less the 5 odd multiples of five)
    assert figures["bench"] == "merger" and figures["persons"] == 50 and figures["legacy"] is False
    assert figures["persons_rehomed"] == 50 and figures["persons_created"] == 0
    assert figures["rows"] == {
        "persons.csv": 50,
        "accounts.csv": 50,
        "contributions.csv": 500,
        "recipients.csv": 10,
        "tier_choices.csv": 20,
    }
    assert set(figures["seconds"]) == {"export", "testload", "import", "testload_plus_import", "total"}
    assert figures["seconds"]["testload_plus_import"] == pytest.approx(
        figures["seconds"]["testload"] + figures["seconds"]["import"], abs=0.011
    )
    assert figures["target_seconds"] == 180
    assert figures["blocking_findings"] == 0 and figures["notes"] == []
    assert figures["balances_match"] is True
    # The proof against the ledger itself (not the cached balances the import summed): every entry of the 50.
    ledger_total = sum(LedgerEntry.objects.values_list("amount", flat=True), Decimal("0.00"))
    assert Decimal(figures["balance_expected"]) == ledger_total == Decimal(figures["balance_imported"])
    # Every account now belongs to the target pooling region, with its ten years of history.
    target = PoolingRegion.objects.get(code=bench.TARGET_CODE)
    assert IndividualAccount.objects.filter(pooling_region=target).count() == 50
    assert Contribution.objects.count() == 500
    project = MergerProject.objects.get()
    assert project.steps.get(step="import").state == StepState.DONE


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_bench_merger_from_a_legacy_package_creates_everyone_with_the_same_money():
    # when: the register forgets the source after the export, so the import creates every person
    out = io.StringIO()
    call_command("bench", "merger", "--persons", "20", "--legacy", stdout=out)
    figures = json.loads(out.getvalue().strip().splitlines()[-1])
    # then
    assert figures["legacy"] is True
    assert figures["persons_created"] == 20 and figures["persons_rehomed"] == 0
    assert figures["rows"]["contributions.csv"] == 200
    assert figures["blocking_findings"] == 0 and figures["balances_match"] is True
    # The opening entries of the new accounts carry exactly the manifest's money.
    ledger_total = sum(LedgerEntry.objects.values_list("amount", flat=True), Decimal("0.00"))
    assert ledger_total == Decimal(figures["balance_expected"])
    target = PoolingRegion.objects.get(code=bench.TARGET_CODE)
    assert IndividualAccount.objects.filter(pooling_region=target).count() == 20
    assert Contribution.objects.count() == 200
