"""导出数据包: the moved area's register written as a merger package (``migration.package``).

Who is exported: the persons of the moved area (``migration.services.source_prefixes``) with an insurance
number whose registration is active or cancelled (pending and withdrawn registrations stay behind).

From the register to the package:

=================  =================================================================================
persons.csv        one row per person
  insurance_no     ``InsuredPerson.insurance_number``
  gender           sex M → 1, F → 2
  hukou_type       ``urban`` for a community (居委会, village part 001–199 of the code in GB/T 10114),
                   ``rural`` for a village (村委会, 200 and up): see ``hukou_type``
  region_code      the person's 12-digit village or community code
  status           a live award (``benefits.Award`` active or suspended) → receiving; else active →
                   contributing; cancelled with a ``benefits.DeathRecord`` → deceased; else cancelled
  special_groups   live ``SpecialGroupMembership`` (no end, or ending after the freeze date), by the
                   package's names (``layout.SPECIAL_GROUPS``), sorted, ``;``-joined
  military_years   the sum of the person's ``benefits.YearsCredit`` of kind deemed; empty when 0
accounts.csv       one row per person with a ``funds.IndividualAccount``
  personal         balance_personal
  gov_subsidy      balance_government_subsidy
  collective       balance_collective
  other_subsidy    balance_donation + balance_government_paid
  interest         balance_interest
  pooled           0.00: this register keeps no pooled account (统筹账户)
  balance          balance, which equals the sum of the parts (checked: the export stops otherwise)
  last_interest..  booked_on of the account's latest interest entry; empty if none
contributions.csv  one row per ``contributions.Contribution``
  tier, personal   tier_amount, personal_amount
  gov_subsidy      government_subsidy
  collective       the person's ``CollectiveSubsidyCredit`` amounts of that year (0.00 if none)
  other_subsidy    government_paid (代缴) + the person's ``Donation`` amounts of that year
  channel          back payment → back_payment; no personal money and some 代缴 → government_paid;
                   paid at the counter → bank_counter; else bank_deduction
recipients.csv     one row per person with a live award
  category         the package's name of the award's category (``layout.RECIPIENT_CATEGORIES``)
  start_month      the award's start month, YYYY-MM
  basic_pension,   from the award's live ``AwardPeriod`` (not replaced) in force in the freeze month:
  account_pension, the latest valid_from on or before it, else the earliest
  monthly_total
  bank_code/acct   the award's payout account
  last_paid_month  the latest month of a pension line of the award in a confirmed payroll; empty if none
tier_choices.csv   ``TierChoice`` rows of those persons for years after the freeze year
=================  =================================================================================

Manifest totals: persons and recipients are row counts; ``account_balance`` the sum of accounts.csv's
balance; ``pooled_account_balance`` its pooled column (0.00); ``contributions_personal`` and
``contributions_subsidy`` the sums of contributions.csv's ``personal`` and ``gov_subsidy`` columns. Every sum
is taken over the text as written, so the manifest agrees with the files to the fen.

The export reads with raw SQL, each file one query ordered by insurance number, streamed from a server-side
cursor in chunks (PostgreSQL) into a temporary zip that is then stored as a ``MergerPackage``. Values are
formatted as text by the database. It writes nothing in the register: run twice, it gives two packages.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core.files import File
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from agencies.errors import DomainError
from agencies.money import ZERO
from agencies.records import file_record
from benefits.models import (
    Award,
    AwardPeriod,
    AwardStatus,
    DeathRecord,
    LineKind,
    PayrollLine,
    PayrollRun,
    PayrollStatus,
    YearsCredit,
    YearsCreditKind,
)
from contributions.models import Channel as PaymentChannel
from contributions.models import (
    CollectiveSubsidy,
    CollectiveSubsidyCredit,
    Contribution,
    ContributionKind,
    Donation,
    TierChoice,
)
from enrollment.models import InsuredPerson, PersonStatus, SpecialGroupMembership
from funds.models import EntryKind, IndividualAccount, LedgerEntry
from migration import layout
from migration.models import MergerPackage, MergerProject, PackageOrigin, Step, StepState
from migration.package import PackageWriter, format_money
from migration.records import merger_package_record
from migration.services import (
    require_merger_user,
    source_prefixes,
    step_fail,
    step_finish,
    step_of,
    step_progress,
    step_start,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
FETCH_ROWS = 20_000  # rows per round trip from the server-side cursor

_GROUP_NAMES = {str(group): name for name, group in layout.SPECIAL_GROUPS.items()}
_CATEGORY_NAMES = {category: name for name, category in layout.RECIPIENT_CATEGORIES.items()}


def hukou_type(region_code: str) -> str:
    """``urban`` for a residents' committee (社区居委会), ``rural`` for a villagers' committee (村委会).

    GB/T 10114 numbers the places under a township 001–199 for residents' committees and 200–399 for
    villagers' committees: the last three digits of the 12-digit code tell which."""
    village = region_code[9:12]
    return "urban" if len(village) == 3 and village.isdigit() and "001" <= village <= "199" else "rural"


# --- SQL that formats on either database ------------------------------------------------------------------


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _money(expr: str) -> str:
    """Yuan as text with two places. SQLite keeps decimals as its numbers: printf gives the two places back."""
    if _postgres():
        return f"CAST(CAST(({expr}) AS NUMERIC(14, 2)) AS TEXT)"
    return f"CASE WHEN ({expr}) IS NULL THEN NULL ELSE printf('%%.2f', {expr}) END"


def _date(expr: str) -> str:
    return f"to_char({expr}, 'YYYY-MM-DD')" if _postgres() else expr


def _month(expr: str) -> str:
    return f"to_char({expr}, 'YYYY-MM')" if _postgres() else f"substr({expr}, 1, 7)"


def _string_agg(expr: str) -> str:
    return f"string_agg({expr}, ',')" if _postgres() else f"group_concat({expr}, ',')"


def _by_number(expr: str) -> str:
    # Insurance numbers are digits: byte order is their order, and it sorts far faster than a locale's.
    return f'{expr} COLLATE "C"' if _postgres() else expr


def _t(model) -> str:
    return model._meta.db_table


@dataclass
class _Query:
    """One file's query: ``SELECT {select} {body} ORDER BY {order}``; ``body`` (FROM … WHERE …) also counts."""

    select: str
    body: str
    order: str
    select_params: list = field(default_factory=list)
    body_params: list = field(default_factory=list)
    # Text made from the sorted rows (``t``), when the select gives plain columns to sort.
    outer: str = ""

    def sql(self) -> tuple[str, list]:
        sql = f"SELECT {self.select} {self.body} ORDER BY {self.order}"
        if self.outer:
            # Neither database reorders the rows of a subquery that is only projected.
            sql = f"SELECT {self.outer} FROM ({sql}) t"
        return sql, self.select_params + self.body_params

    def count(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) {self.body}", self.body_params)
            return int(cursor.fetchone()[0])


def _stream(query: _Query) -> Iterator[tuple]:
    """The query's rows, fetched a chunk at a time. On PostgreSQL through a named (server-side) cursor: outside
    a transaction a WITH HOLD one, so progress reports between chunks commit and the page sees them."""
    sql, params = query.sql()
    if _postgres():
        connection.ensure_connection()
        cursor = connection.connection.cursor(
            name=f"merger_export_{uuid.uuid4().hex}", withhold=not connection.in_atomic_block
        )
        cursor.itersize = FETCH_ROWS
    else:
        cursor = connection.cursor()
    try:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(FETCH_ROWS):
            yield from rows
    finally:
        # A failed transaction takes the cursor with it: the failure that got us here is what is raised.
        with contextlib.suppress(DatabaseError, connection.Database.Error):
            cursor.close()


@contextlib.contextmanager
def _export_session() -> Iterator[None]:
    """On PostgreSQL: no JIT (it costs seconds per query and a sequential read gains nothing from it) and room
    to sort a district's contributions in memory."""
    if not _postgres():
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET jit = off")
        cursor.execute("SET work_mem = '256MB'")
    try:
        yield
    finally:
        with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
            cursor.execute("RESET jit")
            cursor.execute("RESET work_mem")


@dataclass
class _Area:
    """The persons exported, as SQL over ``p`` (enrollment's persons), and the freeze they are read at."""

    where: str
    params: list
    freeze_date: dt.date

    @property
    def freeze_month(self) -> dt.date:
        return self.freeze_date.replace(day=1)


def _area(project: MergerProject, frozen_at: dt.datetime) -> _Area:
    prefixes = source_prefixes(project)
    places = " OR ".join(["p.region_code LIKE %s"] * len(prefixes)) or "1 = 0"
    where = f"p.insurance_number IS NOT NULL AND p.status IN (%s, %s) AND ({places})"
    params = [PersonStatus.ACTIVE.value, PersonStatus.CANCELLED.value] + [f"{prefix}%" for prefix in prefixes]
    return _Area(where, params, timezone.localtime(frozen_at, SHANGHAI).date())


_LIVE_AWARD = [AwardStatus.ACTIVE.value, AwardStatus.SUSPENDED.value]


def _persons_query(area: _Area) -> _Query:
    select = f"""
        p.insurance_number, p.id_number, p.name,
        CASE p.sex WHEN 'M' THEN '1' WHEN 'F' THEN '2' END,
        {_date("p.birth_date")}, p.region_code, p.region_code, p.address, p.phone, p.bank_code, p.bank_account,
        CASE
            WHEN EXISTS (SELECT 1 FROM {_t(Award)} a WHERE a.person_id = p.id AND a.status IN (%s, %s))
                THEN 'receiving'
            WHEN p.status = %s THEN 'contributing'
            WHEN EXISTS (SELECT 1 FROM {_t(DeathRecord)} d WHERE d.person_id = p.id) THEN 'deceased'
            ELSE 'cancelled'
        END,
        {_date("p.enrolled_on")},
        (SELECT {_string_agg('m."group"')} FROM {_t(SpecialGroupMembership)} m
          WHERE m.person_id = p.id AND (m.ends_on IS NULL OR m.ends_on > %s)),
        (SELECT NULLIF(SUM(y.years), 0) FROM {_t(YearsCredit)} y WHERE y.person_id = p.id AND y.kind = %s)
    """
    return _Query(
        select=select,
        select_params=[
            *_LIVE_AWARD,
            PersonStatus.ACTIVE.value,
            area.freeze_date.isoformat(),
            YearsCreditKind.DEEMED.value,
        ],
        body=f"FROM {_t(InsuredPerson)} p WHERE {area.where}",
        body_params=area.params,
        order=_by_number("p.insurance_number"),
    )


def _accounts_query(area: _Area) -> _Query:
    select = f"""
        p.insurance_number, {_money("a.balance_personal")}, {_money("a.balance_government_subsidy")},
        {_money("a.balance_collective")}, {_money("a.balance_donation + a.balance_government_paid")},
        {_money("a.balance_interest")}, {_money("0")}, {_money("a.balance")},
        {
        _date(f'''(SELECT e.booked_on FROM {_t(LedgerEntry)} e
                     WHERE e.account_id = a.id AND e.kind = %s ORDER BY e.booked_on DESC LIMIT 1)''')
    }
    """
    return _Query(
        select=select,
        select_params=[EntryKind.INTEREST.value],
        body=f"FROM {_t(InsuredPerson)} p JOIN {_t(IndividualAccount)} a ON a.person_id = p.id WHERE {area.where}",
        body_params=area.params,
        order=_by_number("p.insurance_number"),
    )


def _contributions_query(area: _Area) -> _Query:
    # Sorted as plain columns first, turned into text after: sorting three million short rows is seconds,
    # sorting them as text several times as wide spills to disk.
    select = """
        p.insurance_number AS insurance_number, c.year AS year, c.tier_amount AS tier,
        c.personal_amount AS personal, c.government_subsidy AS gov_subsidy, COALESCE(cc.amount, 0) AS collective,
        c.government_paid + COALESCE(dn.amount, 0) AS other_subsidy, c.paid_on AS paid_on,
        CASE
            WHEN c.kind = %s THEN 'back_payment'
            WHEN c.personal_amount = 0 AND c.government_paid > 0 THEN 'government_paid'
            WHEN c.channel = %s THEN 'bank_counter'
            ELSE 'bank_deduction'
        END AS channel
    """
    body = f"""
        FROM {_t(InsuredPerson)} p
        JOIN {_t(Contribution)} c ON c.person_id = p.id
        LEFT JOIN (
            SELECT x.person_id, s.year, SUM(x.amount) AS amount
              FROM {_t(CollectiveSubsidyCredit)} x JOIN {_t(CollectiveSubsidy)} s ON s.id = x.subsidy_id
             GROUP BY x.person_id, s.year
        ) cc ON cc.person_id = c.person_id AND cc.year = c.year
        LEFT JOIN (
            SELECT person_id, year, SUM(amount) AS amount FROM {_t(Donation)} GROUP BY person_id, year
        ) dn ON dn.person_id = c.person_id AND dn.year = c.year
        WHERE {area.where}
    """
    outer = f"""
        t.insurance_number, t.year, {_money("t.tier")}, {_money("t.personal")}, {_money("t.gov_subsidy")},
        {_money("t.collective")}, {_money("t.other_subsidy")}, {_date("t.paid_on")}, t.channel
    """
    return _Query(
        select=select,
        select_params=[ContributionKind.BACK_PAYMENT.value, PaymentChannel.COUNTER.value],
        body=body,
        body_params=area.params,
        order=f"{_by_number('p.insurance_number')}, c.year",
        outer=outer,
    )


def _recipients_query(area: _Area) -> _Query:
    month = area.freeze_month.isoformat()
    select = f"""
        p.insurance_number, a.category, {_month("a.start_month")},
        {_money("ap.basic_pension")}, {_money("ap.account_pension")}, {_money("ap.total")},
        a.bank_code, a.bank_account,
        {
        _month(f'''(SELECT MAX(r.month) FROM {_t(PayrollLine)} l JOIN {_t(PayrollRun)} r ON r.id = l.run_id
                      WHERE l.award_id = a.id AND l.kind = %s AND r.status = %s)''')
    }
    """
    # The period in force in the freeze month: the latest one started by then, else the earliest.
    body = f"""
        FROM {_t(InsuredPerson)} p
        JOIN {_t(Award)} a ON a.person_id = p.id AND a.status IN (%s, %s)
        LEFT JOIN {_t(AwardPeriod)} ap ON ap.id = (
            SELECT x.id FROM {_t(AwardPeriod)} x
             WHERE x.award_id = a.id AND x.replaced_by_id IS NULL
             ORDER BY CASE WHEN x.valid_from <= %s THEN 0 ELSE 1 END,
                      CASE WHEN x.valid_from <= %s THEN x.valid_from END DESC,
                      x.valid_from
             LIMIT 1
        )
        WHERE {area.where}
    """
    return _Query(
        select=select,
        select_params=[LineKind.PENSION.value, PayrollStatus.CONFIRMED.value],
        body=body,
        body_params=[*_LIVE_AWARD, month, month, *area.params],
        order=_by_number("p.insurance_number"),
    )


def _tier_choices_query(area: _Area) -> _Query:
    return _Query(
        select=f"p.insurance_number, t.year, {_money('t.amount')}",
        body=f"FROM {_t(InsuredPerson)} p JOIN {_t(TierChoice)} t ON t.person_id = p.id WHERE {area.where} AND t.year > %s",
        body_params=[*area.params, area.freeze_date.year],
        order=f"{_by_number('p.insurance_number')}, t.year",
    )


# --- rows as written, with the totals taken over them -----------------------------------------------------


@dataclass
class _Totals:
    persons: int = 0
    recipients: int = 0
    account_balance: Decimal = ZERO
    pooled_account_balance: Decimal = ZERO
    contributions_personal: Decimal = ZERO
    contributions_subsidy: Decimal = ZERO

    def as_manifest(self) -> dict:
        return {
            "persons": self.persons,
            "recipients": self.recipients,
            "account_balance": format_money(self.account_balance),
            "pooled_account_balance": format_money(self.pooled_account_balance),
            "contributions_personal": format_money(self.contributions_personal),
            "contributions_subsidy": format_money(self.contributions_subsidy),
        }


def _person_rows(rows: Iterable[tuple]) -> Iterator[list]:
    for row in rows:
        out = list(row)
        out[5] = hukou_type(out[5])
        if out[13]:
            out[13] = ";".join(sorted({_GROUP_NAMES[code] for code in out[13].split(",")}))
        yield out


def _account_rows(rows: Iterable[tuple], totals: _Totals) -> Iterator[tuple]:
    balance = pooled = ZERO
    for row in rows:
        parts = [Decimal(value) for value in row[1:7]]
        value = Decimal(row[7])
        if sum(parts) != value:
            raise DomainError(
                f"参保人 {row[0]} 的个人账户余额 {row[7]} 元与各部分之和 {format_money(sum(parts))} 元不符，"
                "请先核对账户（manage.py check_balances）再导出。",
                code="account_parts_mismatch",
            )
        balance += value
        pooled += parts[5]
        yield row
    totals.account_balance, totals.pooled_account_balance = balance, pooled


def _contribution_rows(rows: Iterable[tuple], totals: _Totals) -> Iterator[tuple]:
    personal = subsidy = ZERO
    for row in rows:
        personal += Decimal(row[3])
        subsidy += Decimal(row[4])
        yield row
    totals.contributions_personal, totals.contributions_subsidy = personal, subsidy


def _recipient_rows(rows: Iterable[tuple]) -> Iterator[list]:
    for row in rows:
        out = list(row)
        out[1] = _CATEGORY_NAMES[out[1]]
        yield out


# --- the service --------------------------------------------------------------------------------------------


def _frozen_at(project: MergerProject) -> dt.datetime | None:
    """When the source was frozen: the project's record of it, else when the freeze step was done."""
    if project.frozen_at is not None:
        return project.frozen_at
    freeze = step_of(project, Step.FREEZE)
    return freeze.finished_at if freeze.state == StepState.DONE else None


def _queries(area: _Area) -> dict[str, _Query]:
    return {
        layout.PERSONS: _persons_query(area),
        layout.ACCOUNTS: _accounts_query(area),
        layout.CONTRIBUTIONS: _contributions_query(area),
        layout.RECIPIENTS: _recipients_query(area),
        layout.TIER_CHOICES: _tier_choices_query(area),
    }


def _sha256_and_size(handle) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    handle.seek(0)
    while block := handle.read(1024 * 1024):
        digest.update(block)
        size += len(block)
    handle.seek(0)
    return digest.hexdigest(), size


def package_export(
    *,
    actor,
    project: MergerProject,
    progress: Callable[[int, int], None] | None = None,
    encoding: str = "utf-8",
) -> MergerPackage:
    """Write the moved area's register as a package and keep it (``MergerPackage``, origin export).

    Refused unless the actor runs mergers over the project's place and the freeze is done. Progress is
    reported per file: rows written of the file's rows (``progress(done, total)`` too, if given)."""
    require_merger_user(actor, project)
    source = project.source_pooling_region
    target = project.target_pooling_region
    frozen_at = _frozen_at(project)
    queries = _queries(_area(project, frozen_at)) if frozen_at is not None else {}
    persons = queries[layout.PERSONS].count() if queries else 0
    # Refused here while the freeze is not done (or another export runs).
    step_row = step_start(project, Step.EXPORT, actor=actor, total=persons, phase=layout.PERSONS)
    try:
        if frozen_at is None:  # the step's own check refuses this first
            raise DomainError("源统筹区尚未封存，不能导出数据包。", code="not_frozen")
        freeze_date = timezone.localtime(frozen_at, SHANGHAI).date()
        now = timezone.now()
        stamp = now.strftime("%Y%m%dT%H%M%S.%fZ")
        package_id = f"{source.code}-{project.pk}-{stamp}"
        totals = _Totals()
        with tempfile.TemporaryFile() as handle:
            with _export_session(), PackageWriter(handle, encoding=encoding, compresslevel=1) as writer:
                for name, query in queries.items():
                    total = persons if name == layout.PERSONS else query.count()

                    def report(done: int, name: str = name, total: int = total) -> None:
                        step_progress(step_row, done=done, total=total, phase=name)
                        if progress is not None:
                            progress(done, total)

                    stream = _stream(query)
                    rows: Iterable = stream
                    if name == layout.PERSONS:
                        rows = _person_rows(rows)
                    elif name == layout.ACCOUNTS:
                        rows = _account_rows(rows, totals)
                    elif name == layout.CONTRIBUTIONS:
                        rows = _contribution_rows(rows, totals)
                    elif name == layout.RECIPIENTS:
                        rows = _recipient_rows(rows)
                    report(0)
                    try:
                        written = writer.write_rows(name, rows, on_chunk=report)
                    finally:
                        stream.close()  # the server-side cursor now, not when the generator is collected
                    if name == layout.PERSONS:
                        totals.persons = written
                    elif name == layout.RECIPIENTS:
                        totals.recipients = written
                manifest = writer.finish(
                    {
                        "package_id": package_id,
                        "source_pooling_region": source.code,
                        "source_name": source.name,
                        "target_pooling_region": target.code,
                        "frozen_at": timezone.localtime(frozen_at, SHANGHAI).isoformat(timespec="seconds"),
                        "interest_settled_through": (project.interest_settled_through or freeze_date).isoformat(),
                        "totals": totals.as_manifest(),
                    }
                )
            sha256, size = _sha256_and_size(handle)
            file_name = f"merger-{source.code}-{project.pk}-{now:%Y%m%d%H%M%S}.zip"
            with transaction.atomic():
                package = MergerPackage.objects.create(
                    project=project,
                    origin=PackageOrigin.EXPORT,
                    file=File(handle, name=file_name),
                    file_name=file_name,
                    size=size,
                    sha256=sha256,
                    package_id=package_id,
                    manifest=manifest,
                    created_by=actor,
                )
                file_record(merger_package_record(package))
                step_finish(
                    project,
                    Step.EXPORT,
                    actor=actor,
                    summary=(
                        f"导出 {totals.persons} 人（其中领取待遇 {totals.recipients} 人），"
                        f"个人账户余额合计 {format_money(totals.account_balance)} 元，"
                        f"缴费记录 {writer.files[layout.CONTRIBUTIONS]['rows']} 条；数据包 SHA-256 {sha256}"
                    ),
                )
    except Exception as error:
        message = error.message if isinstance(error, DomainError) else f"导出中断：{error}"
        step_fail(project, Step.EXPORT, actor=actor, error=message)
        raise
    return package
