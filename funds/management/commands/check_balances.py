"""``python manage.py check_balances``: prove that every account's cached balances equal the sums of its entries.

One set-based statement compares, for every account, each ``balance_<component>`` column with the sum of
that component's entries and ``balance`` with the sum of all entries. Prints each mismatch (account,
component, cached, sum) and a summary line; exits non-zero when anything differs.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from funds.models import BALANCE_COLUMN, Component

TOTAL = "total"  # the mismatch is in the account's overall balance


@dataclass(frozen=True)
class Mismatch:
    account_id: int
    component: str  # a Component value, or TOTAL
    cached: Decimal
    summed: Decimal


def _exact(expression: str) -> str:
    # SQLite keeps money as REAL: compare whole fen so that 0.1 + 0.2 equals 0.3.
    if connection.vendor == "sqlite":
        return f"CAST(ROUND(({expression}) * 100) AS INTEGER)"
    return expression


def _sql() -> str:
    columns = [(component, BALANCE_COLUMN[component]) for component in Component.values] + [(TOTAL, "balance")]
    sums = ",\n".join(
        f"SUM(CASE WHEN component = '{component}' THEN amount ELSE 0 END) AS s_{component}"
        for component in Component.values
    )
    selected = ", ".join(f"a.{column}, COALESCE(s.s_{component}, 0)" for component, column in columns[:-1])
    differs = " OR ".join(
        f"{_exact(f'a.{column}')} <> {_exact(f'COALESCE(s.s_{component}, 0)')}" for component, column in columns[:-1]
    )
    return f"""
        SELECT a.id, {selected}, a.balance, COALESCE(s.s_total, 0),
               (SELECT COUNT(*) FROM funds_individualaccount) AS checked
        FROM funds_individualaccount a
        LEFT JOIN (
            SELECT account_id, {sums}, SUM(amount) AS s_total
            FROM funds_ledgerentry
            GROUP BY account_id
        ) s ON s.account_id = a.id
        WHERE {differs} OR {_exact("a.balance")} <> {_exact("COALESCE(s.s_total, 0)")}
        ORDER BY a.id
    """


def _money(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def balance_mismatches() -> list[Mismatch]:
    """Every (account, component) whose cached balance differs from the sum of its entries."""
    components = [*Component.values, TOTAL]
    found: list[Mismatch] = []
    with connection.cursor() as cursor:
        cursor.execute(_sql())
        for row in cursor.fetchall():
            account_id, values = row[0], row[1:-1]
            for index, component in enumerate(components):
                cached, summed = _money(values[2 * index]), _money(values[2 * index + 1])
                if cached != summed:
                    found.append(Mismatch(account_id, component, cached, summed))
    return found


def accounts_count() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM funds_individualaccount")
        return cursor.fetchone()[0]


class Command(BaseCommand):
    help = "核对每个个人账户的缓存余额（分来源及合计）是否等于其明细之和；有不一致时列出并以非零状态退出。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--show", type=int, default=1000, help="最多列出多少条不一致（默认 1000）")

    def handle(self, *args: object, show: int, **options: object) -> None:
        checked = accounts_count()
        mismatches = balance_mismatches()
        for mismatch in mismatches[:show]:
            self.stdout.write(
                f"账户 {mismatch.account_id}  {mismatch.component}  缓存余额 {mismatch.cached}  明细合计 {mismatch.summed}"
            )
        if len(mismatches) > show:
            self.stdout.write(f"……另有 {len(mismatches) - show} 条未列出。")
        accounts = len({m.account_id for m in mismatches})
        self.stdout.write(f"已核对 {checked} 个账户：{accounts} 个账户共 {len(mismatches)} 处余额与明细不一致。")
        if mismatches:
            raise CommandError("个人账户缓存余额与明细不一致，请核查。")
