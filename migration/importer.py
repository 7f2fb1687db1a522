"""正式导入: the staging rows of a package's last clean test-load written into the live register.

``import_start`` checks the package and opens the run (one per package); ``import_run`` does the work, and
is safe to kill and run again. The work is phases, each in chunks over the staged persons' line numbers;
a chunk's writes and its ``ImportChunk`` row commit in one transaction, inside ``freeze_bypass()`` (the
source's rows are frozen while they move), and a re-run skips the chunks present. Every write is also
guarded on its own (a person once, an account once, a ledger entry by its key, a contribution by its bank
reference, an award by the live-award rule): a chunk cannot commit twice, and a write that would repeat one
fails on a unique key rather than pass unseen. New persons' accounts, entries and contributions are inserted
without a per-row existence test (the chunk's person ids are new in this very import), which keeps the plans
linear whatever the tables' statistics say.

The SQL is one text for PostgreSQL and SQLite (``INSERT ... SELECT``, ``UPDATE ... FROM``, ``ON CONFLICT``
are common to both); only the chunk's Python-computed columns (name initials, insurance numbers) travel
through a temporary table filled by ``unnest`` on PostgreSQL and ``executemany`` on SQLite.

Phases: persons (re-homed or created), accounts (opening balances and their TRANSFER_IN entries),
contributions (history, no money), recipients (awards and their first period), tier choices (the package's
and the default), then the re-pooling of the places moved and the proof that the balances arrived to the fen.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from agencies.errors import Conflict, DomainError
from agencies.freeze import freeze_bypass
from agencies.models import PoolingRegion, Region, RegionLevel
from agencies.money import money_total
from benefits.models import Award, AwardEvent, AwardPeriod, Claim, Overpayment, PensionParameters, Transfer, YearsCredit
from contributions.models import Contribution, Donation, TierChoice
from enrollment.models import (
    CERTIFYING_DEPARTMENTS,
    Application,
    InsuranceNumberCounter,
    InsuredPerson,
    SpecialGroupMembership,
)
from enrollment.pinyin import name_initials
from funds.models import IndividualAccount, LedgerEntry
from funds.parallel import run_parallel, workers_allowed
from migration import layout
from migration.models import (
    ImportChunk,
    ImportRun,
    ImportStatus,
    MergerPackage,
    MergerProject,
    StagedAccount,
    StagedContribution,
    StagedPerson,
    StagedRecipient,
    StagedTierChoice,
    Step,
    StepState,
    TestLoad,
    TestLoadStatus,
)
from migration.services import (
    require_merger_user,
    step_advance,
    step_fail,
    step_finish,
    step_of,
    step_progress,
    step_start,
)

DEFAULT_CHUNK = 20_000
DEFAULT_WORKERS = 2
RUNNER_LOCK = 6_004  # the advisory lock class of merger imports (the key's second half is the run id)
DEFAULT_DIVISOR = 139
CERTIFICATE = "并轨迁入"
KEYS_TABLE = "merger_import_keys"
PLAN = "plan"  # the ImportChunk row that keeps the run's chunk size in its number

SP = StagedPerson._meta.db_table
SA = StagedAccount._meta.db_table
SC = StagedContribution._meta.db_table
SR = StagedRecipient._meta.db_table
ST = StagedTierChoice._meta.db_table
PERSON = InsuredPerson._meta.db_table
ACCOUNT = IndividualAccount._meta.db_table
LEDGER = LedgerEntry._meta.db_table
AWARD = Award._meta.db_table
PERIOD = AwardPeriod._meta.db_table
EVENT = AwardEvent._meta.db_table
PARAMS = PensionParameters._meta.db_table
CHOICE = TierChoice._meta.db_table

# Records that follow a person to the target: their region-code copy moves with the person (and the pooling
# region where they carry one). Payroll and bank batch lines stay: they are the source's history.
FOLLOWERS: tuple[tuple[str, bool], ...] = (
    (IndividualAccount._meta.db_table, True),
    (Contribution._meta.db_table, False),
    (TierChoice._meta.db_table, False),
    (Donation._meta.db_table, False),
    (Award._meta.db_table, True),
    (Claim._meta.db_table, False),
    (Application._meta.db_table, False),
    (Overpayment._meta.db_table, False),
    (Transfer._meta.db_table, False),
)

# The chunk's rows: the staged persons of this test-load whose line falls in [lo, hi).
IN_CHUNK = "s.testload_id = %(testload)s AND s.line >= %(lo)s AND s.line < %(hi)s"


@dataclass
class Context:
    run: ImportRun
    project: MergerProject
    package: MergerPackage
    target: PoolingRegion
    actor_id: int | None
    freeze_date: dt.date
    # The day interest was last settled in the source: opening entries booked then earn from then on.
    opening_date: dt.date
    cutover_month: dt.date
    now: dt.datetime

    def params(self, lo: int, hi: int, **more) -> dict:
        ops = connection.ops
        return {
            "testload": self.run.testload_id,
            "lo": lo,
            "hi": hi,
            "target": self.target.pk,
            "actor": self.actor_id,
            "now": ops.adapt_datetimefield_value(self.now),
            "freeze": ops.adapt_datefield_value(self.freeze_date),
            "opening": ops.adapt_datefield_value(self.opening_date),
            "ref": f"merger:{self.project.pk}",
            **more,
        }


# --- start ------------------------------------------------------------------------------------------------


def _require_clean_testload(project: MergerProject, package: MergerPackage) -> TestLoad:
    latest = TestLoad.objects.filter(project=project).order_by("-id").first()
    if latest is None:
        raise Conflict("该项目还没有试导入，请先试导入数据包，确认没有阻断问题后再正式导入。", code="no_testload")
    if latest.package_id != package.pk:
        raise Conflict(
            f"最近一次试导入（#{latest.pk}）读取的是另一个数据包，请先试导入本数据包（{package.file_name}）。",
            code="testload_other_package",
        )
    if latest.status != TestLoadStatus.DONE:
        raise Conflict(
            f"最近一次试导入（#{latest.pk}）{latest.get_status_display()}，须试导入完成且没有阻断问题才能正式导入。",
            code="testload_not_done",
        )
    if latest.blocking_count:
        raise Conflict(
            f"最近一次试导入（#{latest.pk}）有 {latest.blocking_count} 个阻断问题，请在源统筹区更正后重新导出、试导入。",
            code="testload_blocking",
        )
    return latest


def _expected_balance(project: MergerProject, package: MergerPackage) -> Decimal:
    totals = (package.manifest or {}).get("totals") or {}
    try:
        expected = Decimal(str(totals["account_balance"]))
        pooled = Decimal(str(totals.get("pooled_account_balance") or "0"))
    except (KeyError, InvalidOperation):
        raise DomainError("数据包清单中没有账户余额合计（totals.account_balance），不能核对导入金额。") from None
    # Without folding, the legacy pooled balance does not enter the individual accounts.
    return expected if project.fold_pooled else expected - pooled


def import_start(*, actor, project: MergerProject, package: MergerPackage) -> ImportRun:
    """Open the import of ``package`` (or return its unfinished run, to be resumed by ``import_run``)."""
    require_merger_user(actor, project)
    if package.project_id != project.pk:
        raise DomainError("该数据包不属于本并轨项目。", code="other_project")
    existing = ImportRun.objects.filter(package=package).first()
    if existing is not None:
        if existing.status == ImportStatus.DONE:
            raise Conflict("该数据包已导入，不能重复导入。", code="already_imported")
        if step_of(project, Step.IMPORT).state != StepState.RUNNING:
            step_start(project, Step.IMPORT, actor=actor)
        return existing
    testload = _require_clean_testload(project, package)
    # The manifest as the test-load read it (the caller's object may predate that reading).
    package.refresh_from_db(fields=["manifest", "package_id"])
    expected = _expected_balance(project, package)
    try:
        with transaction.atomic():
            step_start(project, Step.IMPORT, actor=actor)
            return ImportRun.objects.create(
                project=project, package=package, testload=testload, balance_expected=expected, started_by=actor
            )
    except IntegrityError:
        raise Conflict("该数据包刚刚已开始导入，请勿重复操作。", code="already_imported") from None


# --- the run ----------------------------------------------------------------------------------------------


def _freeze_date(project: MergerProject, package: MergerPackage) -> dt.date:
    if project.frozen_at:
        return timezone.localdate(project.frozen_at)
    frozen = parse_datetime(str((package.manifest or {}).get("frozen_at") or ""))
    if frozen is not None:
        return timezone.localdate(frozen) if timezone.is_aware(frozen) else frozen.date()
    return project.cutover_date - dt.timedelta(days=1)


def _opening_date(project: MergerProject, package: MergerPackage) -> dt.date:
    """The manifest's ``interest_settled_through`` (interest was settled in the source up to that day), else the
    freeze date. Money booked on or before 31 December earns the whole next year in the year-end settlement
    (``funds.settlement``): booked on the freeze date instead, the months between would earn nothing."""
    freeze = _freeze_date(project, package)
    raw = str((package.manifest or {}).get("interest_settled_through") or "")
    try:
        settled = dt.date.fromisoformat(raw[:10])
    except ValueError:
        return freeze
    return settled if settled <= freeze else freeze


def _line_ranges(testload_id: int, chunk_size: int) -> list[tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MIN(line), MAX(line) FROM {SP} WHERE testload_id = %s", [testload_id])
        low, high = cursor.fetchone()
    if low is None:
        return []
    count = math.ceil((high - low + 1) / chunk_size)
    return [(low + n * chunk_size, low + (n + 1) * chunk_size) for n in range(count)]


def _chunk(run: ImportRun, phase: str, number: int, work: Callable[[], int]) -> bool:
    """Do one chunk unless it is done; True when it was done now. Chunks of one phase may run at once on
    several connections: they touch different persons, and only one runner works on a run (``_runner``)."""
    with transaction.atomic(), freeze_bypass():
        if ImportChunk.objects.filter(run=run, phase=phase, number=number).exists():
            return False
        rows = work()
        ImportChunk.objects.create(run=run, phase=phase, number=number, rows=rows)
    return True


@contextmanager
def _runner(run_id: int) -> Iterator[bool]:
    """One runner per import (a task re-sent, the nightly resume): on PostgreSQL a session advisory lock,
    released when the runner ends or its connection dies. Yields whether this runner may work."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [RUNNER_LOCK, run_id])
        (acquired,) = cursor.fetchone()
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [RUNNER_LOCK, run_id])


def _chunk_size(run: ImportRun, wanted: int) -> int:
    """The chunk size the run started with (kept as its ``plan`` row): a resumed run's chunk numbers must
    mean the same lines as before, whatever size the resuming call asks for."""
    with transaction.atomic():
        ImportRun.objects.select_for_update().filter(pk=run.pk).values_list("pk", flat=True).first()
        plan = ImportChunk.objects.filter(run=run, phase=PLAN).first()
        if plan is None:
            plan = ImportChunk.objects.create(run=run, phase=PLAN, number=max(1, wanted))
    return plan.number


def import_run(run_id: int, *, chunk_size: int = DEFAULT_CHUNK, workers: int = DEFAULT_WORKERS) -> ImportRun:
    """Do (or finish) the import. Killed at any point and run again, it completes and duplicates nothing.
    While another runner works on the same import this one returns the run as it stands."""
    with _runner(run_id) as mine:
        run = ImportRun.objects.select_related(
            "project__source_pooling_region", "project__target_pooling_region", "package", "started_by"
        ).get(pk=run_id)
        if run.status == ImportStatus.DONE or not mine:
            return run
        return _work(run, chunk_size=chunk_size, workers=workers)


def _work(run: ImportRun, *, chunk_size: int, workers: int) -> ImportRun:
    project = run.project
    actor = run.started_by
    try:
        step = step_of(project, Step.IMPORT)
        if step.state != StepState.RUNNING:
            step = step_start(project, Step.IMPORT, actor=actor)
        if run.status != ImportStatus.RUNNING:
            ImportRun.objects.filter(pk=run.pk).update(status=ImportStatus.RUNNING, error="")
        ctx = Context(
            run=run,
            project=project,
            package=run.package,
            target=project.target_pooling_region,
            actor_id=actor.pk if actor else None,
            freeze_date=_freeze_date(project, run.package),
            opening_date=_opening_date(project, run.package),
            cutover_month=project.cutover_date.replace(day=1),
            now=timezone.now(),
        )
        ranges = _line_ranges(run.testload_id, _chunk_size(run, chunk_size))
        step_progress(
            step,
            done=ImportChunk.objects.filter(run=run).exclude(phase=PLAN).count(),
            total=len(ranges) * len(PHASES) + 1,
        )
        for phase, label in PHASES:
            step_progress(step, done=step.progress_done, phase=label)
            work = PHASE_WORK[phase]
            done = set(ImportChunk.objects.filter(run=run, phase=phase).values_list("number", flat=True))
            todo = [(number, lo, hi) for number, (lo, hi) in enumerate(ranges) if number not in done]

            def one(item: tuple[int, int, int], phase=phase, work=work) -> bool:
                number, lo, hi = item
                return _chunk(run, phase, number, lambda: work(ctx, lo, hi))

            for _item, did in run_parallel(todo, one, workers_allowed(workers)):
                if did:
                    step_advance(step, 1)
        # The proof comes before the places move: a failed one leaves them with the source, frozen, and the
        # run resumable once the difference is corrected.
        step_progress(step, done=step.progress_done, phase="余额核对")
        return _verify(ctx)
    except Exception as error:
        message = error.message if isinstance(error, DomainError) else f"{type(error).__name__}: {error}"
        ImportRun.objects.filter(pk=run.pk).update(status=ImportStatus.FAILED, error=message[:2000])
        step_fail(project, Step.IMPORT, actor=actor, error=f"正式导入中断：{message}")
        raise


# --- phase 1: persons -----------------------------------------------------------------------------------------


def _rehome(ctx: Context, lo: int, hi: int) -> int:
    """Persons already in this register (the source is here): their village and every copy of their place."""
    params = ctx.params(lo, hi)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {PERSON} SET village_id = s.target_village_id, region_code = s.target_region_code
                FROM {SP} s WHERE {IN_CHUNK} AND s.existing_person_id = {PERSON}.id
                  AND ({PERSON}.village_id IS DISTINCT FROM s.target_village_id
                       OR {PERSON}.region_code IS DISTINCT FROM s.target_region_code)""",
            params,
        )
        # Only rows whose copy really changes are written: a whole district joining keeps its codes, and
        # rewriting an indexed column with its own value still costs a new row version and index entries.
        for table, pooled in FOLLOWERS:
            extra = ", pooling_region_id = %(target)s" if pooled else ""
            changed = f"{table}.region_code IS DISTINCT FROM s.target_region_code"
            if pooled:
                changed += f" OR {table}.pooling_region_id IS DISTINCT FROM %(target)s"
            cursor.execute(
                f"""UPDATE {table} SET region_code = s.target_region_code{extra}
                    FROM {SP} s WHERE {IN_CHUNK} AND s.existing_person_id = {table}.person_id AND ({changed})""",
                params,
            )
        for link, table in (("award_id", AWARD), ("claim_id", Claim._meta.db_table)):
            cursor.execute(
                f"""UPDATE {EVENT} SET region_code = s.target_region_code
                    FROM {table} x JOIN {SP} s ON s.existing_person_id = x.person_id
                    WHERE {IN_CHUNK} AND {EVENT}.{link} = x.id
                      AND {EVENT}.region_code IS DISTINCT FROM s.target_region_code""",
                params,
            )
        cursor.execute(
            f"""UPDATE {SP} SET person_id = p.id, insurance_number = COALESCE(p.insurance_number, '')
                FROM {PERSON} p
                WHERE {SP}.testload_id = %(testload)s AND {SP}.line >= %(lo)s AND {SP}.line < %(hi)s
                  AND p.id = {SP}.existing_person_id AND {SP}.person_id IS NULL""",
            params,
        )
        rehomed = cursor.rowcount
    return rehomed


def _usable_numbers(rows: list[tuple]) -> dict[int, str]:
    """Staged id → the package's insurance number, for the rows that may keep it (unique here, and fits)."""
    fits = [(sid, number) for sid, _, number, _ in rows if number and len(number) <= 20]
    taken = set(
        InsuredPerson.objects.filter(insurance_number__in=[n for _, n in fits]).values_list(
            "insurance_number", flat=True
        )
    )
    kept: dict[int, str] = {}
    for sid, number in fits:
        if number not in taken:
            kept[sid] = number
            taken.add(number)
    return kept


def _own_form(number: str) -> bool:
    """A number in this register's own form: county code + 8-digit serial (it moves that county's counter)."""
    return len(number) == 14 and number.isascii() and number.isdigit()


def _lock_counters(rows: list[tuple]) -> None:
    """Every counter the chunk may touch (its counties, and those of the kept numbers in the register's form),
    locked in one pass in code order: chunks running at once then wait for each other instead of each holding
    one county while asking for another's (a deadlock). Taken before the kept numbers are judged, so a number
    another chunk has just issued is seen as taken."""
    counties = {region_code[:6] for _, _, _, region_code in rows}
    counties |= {number[:6] for _, _, number, _ in rows if number and _own_form(number)}
    ordered = sorted(counties)
    InsuranceNumberCounter.objects.bulk_create(
        [InsuranceNumberCounter(county_code=county) for county in ordered], ignore_conflicts=True
    )
    list(
        InsuranceNumberCounter.objects.select_for_update()
        .filter(county_code__in=ordered)
        .order_by("county_code")
        .values_list("pk", flat=True)
    )


def _allocate(county: str, count: int) -> list[int]:
    """``count`` serials of the county's counter, taken at once under its row lock (never reused; the lock is
    the chunk's, from ``_lock_counters``)."""
    counter = InsuranceNumberCounter.objects.select_for_update().get(county_code=county)
    first = counter.last_serial + 1
    counter.last_serial += count
    counter.save(update_fields=["last_serial"])
    return list(range(first, first + count))


def _advance_counters(kept: list[str]) -> None:
    """Kept numbers in this register's own form (county + 8 digits) move that county's counter past them, so
    a later registration is not handed one of them."""
    highest: dict[str, int] = {}
    for number in kept:
        if _own_form(number):
            county, serial = number[:6], int(number[6:])
            highest[county] = max(highest.get(county, 0), serial)
    for county, serial in sorted(highest.items()):
        InsuranceNumberCounter.objects.filter(county_code=county, last_serial__lt=serial).update(last_serial=serial)


def _numbers(rows: list[tuple]) -> tuple[dict[int, str], int]:
    """Staged id → the insurance number the person gets, and how many were issued anew."""
    _lock_counters(rows)
    numbers = _usable_numbers(rows)
    _advance_counters(list(numbers.values()))
    by_county: dict[str, list[int]] = {}
    for sid, _, _, region_code in rows:
        if sid not in numbers:
            by_county.setdefault(region_code[:6], []).append(sid)
    reissued = 0
    for county, ids in sorted(by_county.items()):
        pending = list(ids)
        while pending:
            candidates = {
                sid: f"{county}{serial:08d}"
                for sid, serial in zip(pending, _allocate(county, len(pending)), strict=True)
            }
            clash = set(
                InsuredPerson.objects.filter(insurance_number__in=candidates.values()).values_list(
                    "insurance_number", flat=True
                )
            ) | set(numbers.values())
            pending = [sid for sid, number in candidates.items() if number in clash]
            numbers.update({sid: number for sid, number in candidates.items() if number not in clash})
        reissued += len(ids)
    return numbers, reissued


def _fill_keys(rows: list[tuple[int, str, str]]) -> None:
    """The chunk's computed columns in a temporary table (staged id, initials, insurance number)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{KEYS_TABLE}")
            cursor.execute(
                f"CREATE TEMP TABLE {KEYS_TABLE} (staged_id bigint PRIMARY KEY, initials text, insurance_number text)"
                " ON COMMIT DROP"
            )
            cursor.execute(
                f"INSERT INTO {KEYS_TABLE} SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[])",
                [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]],
            )
        else:
            cursor.execute(f"DROP TABLE IF EXISTS temp.{KEYS_TABLE}")
            cursor.execute(
                f"CREATE TEMP TABLE {KEYS_TABLE} (staged_id INTEGER PRIMARY KEY, initials TEXT, insurance_number TEXT)"
            )
            cursor.executemany(f"INSERT INTO {KEYS_TABLE} VALUES (%s, %s, %s)", rows)


def _create(ctx: Context, lo: int, hi: int) -> tuple[int, int]:
    """New persons: inserted with their mapped village, kept or new insurance number, groups and deemed years."""
    params = ctx.params(lo, hi)
    rows = list(
        StagedPerson.objects.filter(
            testload_id=ctx.run.testload_id,
            line__gte=lo,
            line__lt=hi,
            existing_person_id__isnull=True,
            person_id__isnull=True,
        )
        .order_by("line")
        .values_list("id", "name", "insurance_no", "target_region_code")
    )
    if not rows:
        return 0, 0
    numbers, reissued = _numbers(rows)
    _fill_keys([(sid, name_initials(name), numbers[sid]) for sid, name, _, _ in rows])
    with connection.cursor() as cursor:
        try:
            with transaction.atomic():
                cursor.execute(
                    f"""INSERT INTO {PERSON}
                            (id_number, insurance_number, name, name_initials, sex, birth_date, village_id,
                             region_code, status, phone, address, social_security_card_number, bank_code,
                             bank_account, enrolled_on, cancelled_on, created_at)
                        SELECT s.id_number, k.insurance_number, s.name, k.initials,
                               CASE s.gender WHEN '2' THEN 'F' ELSE 'M' END, s.birth_date, s.target_village_id,
                               s.target_region_code,
                               CASE WHEN s.status IN ('cancelled', 'deceased') THEN 'cancelled' ELSE 'active' END,
                               s.phone, s.address, '', s.bank_code, s.bank_account,
                               s.enrolled_on, NULL, %(now)s
                        FROM {SP} s JOIN {KEYS_TABLE} k ON k.staged_id = s.id
                        ORDER BY s.line""",
                    params,
                )
        except IntegrityError as error:
            raise _insert_conflict(error) from None
        created = cursor.rowcount
        cursor.execute(
            f"""UPDATE {SP} SET person_id = p.id, insurance_number = p.insurance_number
                FROM {PERSON} p
                WHERE {SP}.testload_id = %(testload)s AND {SP}.line >= %(lo)s AND {SP}.line < %(hi)s
                  AND {SP}.existing_person_id IS NULL AND {SP}.person_id IS NULL AND p.id_number = {SP}.id_number""",
            params,
        )
        cursor.execute(
            f"""INSERT INTO {YearsCredit._meta.db_table} (person_id, kind, years, reference, recorded_by_id, recorded_at)
                SELECT s.person_id, 'deemed', s.military_years, %(ref)s, %(actor)s, %(now)s
                FROM {SP} s
                WHERE {IN_CHUNK} AND s.existing_person_id IS NULL AND s.person_id IS NOT NULL
                  AND s.military_years > 0
                ON CONFLICT (person_id, reference) DO NOTHING""",
            params,
        )
    _special_groups(ctx, lo, hi)
    return created, reissued


def _insert_conflict(error: IntegrityError) -> Conflict:
    """What a refused insert of new persons means: an insurance number issued elsewhere at the same moment (run
    the import again: the chunk rolled back and picks another), or an identity number registered meanwhile."""
    if "insurance_number" in str(error):
        return Conflict(
            "新参保人的保险编号与同时办理的参保登记分配的编号冲突，本批已撤回；请重新执行正式导入，将重新编号。",
            code="insurance_number_taken",
        )
    return Conflict(
        "数据包中有人员的身份证号已在本系统登记（试导入之后新登记的？），请重新试导入后再正式导入。",
        code="person_exists",
    )


def _special_groups(ctx: Context, lo: int, hi: int) -> None:
    staged = (
        StagedPerson.objects.filter(
            testload_id=ctx.run.testload_id,
            line__gte=lo,
            line__lt=hi,
            existing_person_id__isnull=True,
            person_id__isnull=False,
        )
        .exclude(special_groups="")
        .values_list("person_id", "special_groups", "enrolled_on")
    )
    memberships = []
    for person_id, groups, enrolled_on in staged:
        for code in {g.strip() for g in groups.split(";") if g.strip()}:
            group = layout.SPECIAL_GROUPS.get(code)
            if group is None:
                continue
            memberships.append(
                SpecialGroupMembership(
                    person_id=person_id,
                    group=group,
                    certifying_department=CERTIFYING_DEPARTMENTS[group],
                    certificate_number=CERTIFICATE,
                    certified_on=enrolled_on or ctx.freeze_date,
                    recorded_by_id=ctx.actor_id,
                )
            )
    SpecialGroupMembership.objects.bulk_create(memberships, ignore_conflicts=True)


def _persons(ctx: Context, lo: int, hi: int) -> int:
    rehomed = _rehome(ctx, lo, hi)
    created, _reissued = _create(ctx, lo, hi)
    return rehomed + created


# --- phase 2: accounts ----------------------------------------------------------------------------------------

# The opening entries of a new person's account: (key suffix, ledger component, staged column).
OPENING = (
    ("personal", "personal", "personal"),
    ("government_subsidy", "government_subsidy", "gov_subsidy"),
    ("collective", "collective", "collective"),
    ("donation", "donation", "other_subsidy"),
    ("interest", "interest", "interest"),
)
POOLED = ("pooled", "government_subsidy", "pooled")


def _accounts(ctx: Context, lo: int, hi: int) -> int:
    """New persons' accounts with every component, and one TRANSFER_IN entry per nonzero part (booked on the
    day interest was last settled in the source). Re-homed persons keep theirs; a legacy pooled balance is folded in by one entry."""
    fold = ctx.project.fold_pooled
    params = ctx.params(lo, hi)
    pooled = "COALESCE(a.pooled, 0)" if fold else "0"
    parts = OPENING + ((POOLED,) if fold else ())
    select_parts = "\n UNION ALL ".join(
        f"SELECT person_id, '{key}' AS k, '{component}' AS component, {column} AS amount FROM base"
        for key, component, column in parts
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {ACCOUNT}
                    (person_id, region_code, pooling_region_id, opened_on, closed_on, balance_personal,
                     balance_government_subsidy, balance_collective, balance_donation, balance_government_paid,
                     balance_interest, balance)
                SELECT s.person_id, s.target_region_code, %(target)s, COALESCE(s.enrolled_on, %(opening)s), NULL,
                       COALESCE(a.personal, 0), COALESCE(a.gov_subsidy, 0) + {pooled}, COALESCE(a.collective, 0),
                       COALESCE(a.other_subsidy, 0), 0, COALESCE(a.interest, 0),
                       COALESCE(a.personal, 0) + COALESCE(a.gov_subsidy, 0) + COALESCE(a.collective, 0)
                       + COALESCE(a.other_subsidy, 0) + COALESCE(a.interest, 0) + {pooled}
                FROM {SP} s JOIN {SA} a ON a.testload_id = s.testload_id AND a.insurance_no = s.insurance_no
                WHERE {IN_CHUNK} AND s.existing_person_id IS NULL AND s.person_id IS NOT NULL""",
            params,
        )
        opened = cursor.rowcount
        cursor.execute(
            f"""WITH base AS (
                    SELECT s.person_id, COALESCE(a.personal, 0) AS personal, COALESCE(a.gov_subsidy, 0) AS gov_subsidy,
                           COALESCE(a.collective, 0) AS collective, COALESCE(a.other_subsidy, 0) AS other_subsidy,
                           COALESCE(a.interest, 0) AS interest, COALESCE(a.pooled, 0) AS pooled
                    FROM {SP} s JOIN {SA} a ON a.testload_id = s.testload_id AND a.insurance_no = s.insurance_no
                    WHERE {IN_CHUNK} AND s.existing_person_id IS NULL AND s.person_id IS NOT NULL
                )
                INSERT INTO {LEDGER}
                    (account_id, component, kind, amount, booked_on, period, reference, idempotency_key,
                     reverses_id, created_at, created_by_id)
                SELECT x.id, v.component, 'transfer_in', v.amount, %(opening)s, '', %(ref)s,
                       %(ref)s || ':' || v.person_id || ':' || v.k, NULL, %(now)s, %(actor)s
                FROM ({select_parts}) v JOIN {ACCOUNT} x ON x.person_id = v.person_id
                WHERE v.amount <> 0
                ORDER BY x.id""",
            params,
        )
        if fold:
            _fold_rehomed(cursor, params)
    return opened


def _fold_rehomed(cursor, params: dict) -> None:
    """A re-homed person's staged pooled balance: one entry into the government subsidy, and the cache moved
    (the cache first, while the entry's key still says it is not posted)."""
    key = f"%(ref)s || ':' || {ACCOUNT}.person_id || ':pooled'"
    cursor.execute(
        f"""UPDATE {ACCOUNT}
            SET balance_government_subsidy = {ACCOUNT}.balance_government_subsidy + a.pooled,
                balance = {ACCOUNT}.balance + a.pooled
            FROM {SP} s JOIN {SA} a ON a.testload_id = s.testload_id AND a.insurance_no = s.insurance_no
            WHERE {IN_CHUNK} AND s.existing_person_id IS NOT NULL AND a.pooled > 0
              AND {ACCOUNT}.person_id = s.person_id
              AND NOT EXISTS (SELECT 1 FROM {LEDGER} e WHERE e.idempotency_key = {key})""",
        params,
    )
    cursor.execute(
        f"""INSERT INTO {LEDGER}
                (account_id, component, kind, amount, booked_on, period, reference, idempotency_key,
                 reverses_id, created_at, created_by_id)
            SELECT x.id, 'government_subsidy', 'transfer_in', a.pooled, %(opening)s, '', %(ref)s,
                   %(ref)s || ':' || x.person_id || ':pooled', NULL, %(now)s, %(actor)s
            FROM {SP} s JOIN {SA} a ON a.testload_id = s.testload_id AND a.insurance_no = s.insurance_no
                 JOIN {ACCOUNT} x ON x.person_id = s.person_id
            WHERE {IN_CHUNK} AND s.existing_person_id IS NOT NULL AND a.pooled > 0
              AND NOT EXISTS (
                  SELECT 1 FROM {LEDGER} e WHERE e.idempotency_key = %(ref)s || ':' || x.person_id || ':pooled')""",
        params,
    )


# --- phase 3: contributions ---------------------------------------------------------------------------------


def _contributions(ctx: Context, lo: int, hi: int) -> int:
    """New persons' contribution history. No ledger entries: the account's opening entries carry the money."""
    params = ctx.params(lo, hi, bank_ref=f"merger:{ctx.package.pk}:")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {Contribution._meta.db_table}
                    (person_id, year, kind, tier_amount, personal_amount, government_subsidy, government_paid,
                     paid_on, channel, bank_code, bank_reference, region_code, subsidy_province, subsidy_city,
                     subsidy_county, paid_province, paid_city, paid_county, recorded_by_id, recorded_at)
                SELECT s.person_id, c.year,
                       CASE c.channel WHEN 'back_payment' THEN 'back_payment' ELSE 'regular' END,
                       COALESCE(c.tier, 0), COALESCE(c.personal, 0), COALESCE(c.gov_subsidy, 0),
                       CASE c.channel WHEN 'government_paid' THEN COALESCE(c.other_subsidy, 0) ELSE 0 END,
                       c.paid_on, CASE c.channel WHEN 'bank_counter' THEN 'counter' ELSE 'bank_file' END,
                       '', %(bank_ref)s || c.line, s.target_region_code,
                       0, 0, COALESCE(c.gov_subsidy, 0),
                       0, 0, CASE c.channel WHEN 'government_paid' THEN COALESCE(c.other_subsidy, 0) ELSE 0 END,
                       NULL, %(now)s
                FROM {SP} s JOIN {SC} c ON c.testload_id = s.testload_id AND c.insurance_no = s.insurance_no
                WHERE {IN_CHUNK} AND s.existing_person_id IS NULL AND s.person_id IS NOT NULL""",
            params,
        )
        written = cursor.rowcount
    return written


# --- phase 4: recipients ------------------------------------------------------------------------------------

_CATEGORY = "CASE r.category " + " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in layout.RECIPIENT_CATEGORIES.items())
_CATEGORY += " END"
_PERIOD_MONTH = "CASE WHEN r.start_month > %(cutover)s THEN r.start_month ELSE %(cutover)s END"
_PARAMETERS_OF = f"""(SELECT pp.id FROM {PARAMS} pp WHERE pp.pooling_region_id = %(target)s
                     AND pp.valid_from <= {_PERIOD_MONTH} ORDER BY pp.valid_from DESC LIMIT 1)"""


def _recipients(ctx: Context, lo: int, hi: int) -> int:
    """New persons' awards, active, each with one period from the cut-over month at the package's amounts."""
    if not StagedRecipient.objects.filter(
        testload_id=ctx.run.testload_id,
        insurance_no__in=StagedPerson.objects.filter(
            testload_id=ctx.run.testload_id, line__gte=lo, line__lt=hi, existing_person_id__isnull=True
        ).values("insurance_no"),
    ).exists():
        return 0
    parameters = (
        PensionParameters.objects.filter(pooling_region=ctx.target, valid_from__lte=ctx.cutover_month)
        .order_by("-valid_from")
        .first()
    )
    if parameters is None:
        raise DomainError(
            f"{ctx.target.name}尚未设置{ctx.cutover_month:%Y年%m月}适用的待遇计发参数，不能导入领取待遇人员。"
            "请先由市级设置计发参数。",
            code="no_parameters",
        )
    ops = connection.ops
    params = ctx.params(
        lo,
        hi,
        divisor=parameters.account_divisor or DEFAULT_DIVISOR,
        cutover=ops.adapt_datefield_value(ctx.cutover_month),
        note=f"并轨迁入（{ctx.project.name}），按数据包金额自{ctx.cutover_month:%Y年%m月}起发放",
    )
    recipients = f"FROM {SP} s JOIN {SR} r ON r.testload_id = s.testload_id AND r.insurance_no = s.insurance_no"
    new_ones = f"WHERE {IN_CHUNK} AND s.existing_person_id IS NULL AND s.person_id IS NOT NULL"
    award = f"JOIN {AWARD} w ON w.person_id = s.person_id AND w.status = 'active'"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {AWARD}
                    (person_id, claim_id, region_code, pooling_region_id, category, status, start_month, paid_until,
                     stop_reason, stop_note, birth_date, years_paid, account_balance_at_start, account_divisor,
                     account_pension, bank_code, bank_account, approved_by_id, approved_at)
                SELECT s.person_id, NULL, s.target_region_code, %(target)s, {_CATEGORY}, 'active', r.start_month,
                       NULL, '', '', s.birth_date,
                       (SELECT COUNT(DISTINCT c.year) FROM {SC} c
                        WHERE c.testload_id = s.testload_id AND c.insurance_no = s.insurance_no)
                       + COALESCE(s.military_years, 0),
                       COALESCE((SELECT a.balance FROM {SA} a
                                 WHERE a.testload_id = s.testload_id AND a.insurance_no = s.insurance_no), 0),
                       %(divisor)s, COALESCE(r.account_pension, 0), r.bank_code, r.bank_account,
                       %(actor)s, %(now)s
                {recipients} {new_ones}
                  AND NOT EXISTS (SELECT 1 FROM {AWARD} w
                                  WHERE w.person_id = s.person_id AND w.status IN ('active', 'suspended'))
                ORDER BY s.line""",
            params,
        )
        awarded = cursor.rowcount
        cursor.execute(
            f"""INSERT INTO {PERIOD}
                    (award_id, valid_from, parameters_id, central_minimum, local_top_up, years_addition,
                     age_addition, urban_allowance, basic_pension, account_pension, total, recalculation_id,
                     replaced_by_id)
                SELECT w.id, {_PERIOD_MONTH}, pp.id,
                       CASE WHEN COALESCE(r.basic_pension, 0) >= pp.central_minimum THEN pp.central_minimum
                            ELSE COALESCE(r.basic_pension, 0) END,
                       CASE WHEN COALESCE(r.basic_pension, 0) >= pp.central_minimum
                            THEN COALESCE(r.basic_pension, 0) - pp.central_minimum ELSE 0 END,
                       0, 0,
                       COALESCE(r.monthly_total, 0) - COALESCE(r.basic_pension, 0) - COALESCE(r.account_pension, 0),
                       COALESCE(r.basic_pension, 0), COALESCE(r.account_pension, 0), COALESCE(r.monthly_total, 0),
                       NULL, NULL
                {recipients} {award} JOIN {PARAMS} pp ON pp.id = {_PARAMETERS_OF} {new_ones}
                  AND NOT EXISTS (SELECT 1 FROM {PERIOD} ap WHERE ap.award_id = w.id)""",
            params,
        )
        cursor.execute(
            f"""INSERT INTO {EVENT}
                    (region_code, claim_id, award_id, action, from_status, to_status, actor_id, note, at)
                SELECT w.region_code, NULL, w.id, 'merger_import', '', 'active', %(actor)s, %(note)s, %(now)s
                {recipients} {award} {new_ones}
                  AND NOT EXISTS (SELECT 1 FROM {EVENT} e WHERE e.award_id = w.id AND e.action = 'merger_import')""",
            params,
        )
    return awarded


# --- phase 5: tier choices ----------------------------------------------------------------------------------


def _default_tier(ctx: Context) -> Decimal:
    if ctx.project.default_tier is not None:
        return ctx.project.default_tier
    from contributions.selectors import policy_for_year  # the target's schedule for the cut-over year

    policy = policy_for_year(pooling_region=ctx.target, year=ctx.cutover_month.year)
    lowest = policy.tiers.order_by("amount").first()
    if lowest is None:
        raise DomainError(f"{ctx.target.name}{ctx.cutover_month.year}年度的缴费政策没有缴费档次。", code="no_tiers")
    return lowest.amount


def _tier_choices(ctx: Context, lo: int, hi: int) -> int:
    """The package's choices (for years the source's tiers still stand), then the default tier for the cut-over
    year for everyone active, not receiving, and without a choice."""
    params = ctx.params(lo, hi, year=ctx.cutover_month.year, last_year=ctx.project.source_tiers_until.year)
    needing = f"""FROM {SP} s JOIN {PERSON} p ON p.id = s.person_id
                  WHERE {IN_CHUNK} AND p.status = 'active'
                    AND NOT EXISTS (SELECT 1 FROM {AWARD} w
                                    WHERE w.person_id = p.id AND w.status IN ('active', 'suspended'))
                    AND NOT EXISTS (SELECT 1 FROM {CHOICE} t WHERE t.person_id = p.id AND t.year = %(year)s)"""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {CHOICE} (person_id, year, amount, source, region_code, chosen_by_id, chosen_at)
                SELECT s.person_id, t.year, t.tier, 'batch', s.target_region_code, %(actor)s, %(now)s
                FROM {SP} s JOIN {ST} t ON t.testload_id = s.testload_id AND t.insurance_no = s.insurance_no
                WHERE {IN_CHUNK} AND s.person_id IS NOT NULL AND t.year IS NOT NULL AND t.tier IS NOT NULL
                  AND t.year <= %(last_year)s
                ORDER BY s.person_id, t.year
                ON CONFLICT (person_id, year) DO NOTHING""",
            params,
        )
        written = cursor.rowcount
        cursor.execute(f"SELECT COUNT(*) {needing}", params)
        if cursor.fetchone()[0]:
            params["tier"] = _default_tier(ctx)
            cursor.execute(
                f"""INSERT INTO {CHOICE} (person_id, year, amount, source, region_code, chosen_by_id, chosen_at)
                    SELECT p.id, %(year)s, %(tier)s, 'default', p.region_code, %(actor)s, %(now)s {needing}
                    ORDER BY p.id
                    ON CONFLICT (person_id, year) DO NOTHING""",
                params,
            )
            written += cursor.rowcount
    return written


PHASES: tuple[tuple[str, str], ...] = (
    ("persons", "迁移参保人"),
    ("accounts", "建立个人账户"),
    ("contributions", "导入缴费记录"),
    ("recipients", "导入待遇"),
    ("tier_choices", "缴费档次"),
)
PHASE_WORK: dict[str, Callable[[Context, int, int], int]] = {
    "persons": _persons,
    "accounts": _accounts,
    "contributions": _contributions,
    "recipients": _recipients,
    "tier_choices": _tier_choices,
}


# --- re-pooling and the proof -------------------------------------------------------------------------------


def _repool(ctx: Context) -> int:
    """The places moved now belong to the target: the whole source's regions, or the chosen towns."""
    if ctx.project.source_towns:
        codes = [town.ljust(12, "0") for town in ctx.project.source_towns]
        places = Region.objects.filter(level=RegionLevel.TOWNSHIP, code__in=codes)
    else:
        places = Region.objects.filter(pooling_region=ctx.project.source_pooling_region)
        # Left without places, the source's history (payrolls, fund accounts, the transfer out) is reached
        # through the region it joined (agencies.scope.covers_pooling_region); the cut-over closes it.
        PoolingRegion.objects.filter(pk=ctx.project.source_pooling_region_id).update(merged_into=ctx.target)
    return places.update(pooling_region=ctx.target)


@dataclass
class Proof:
    """The balances the import arrived at, read two ways: the accounts' cached balances and their ledger."""

    cached: Decimal  # the sum of the imported accounts' cached balances
    ledger: Decimal  # the sum of their ledger entries
    unbalanced: int  # accounts whose cached balance is not the sum of their entries


def _prove(run: ImportRun) -> Proof:
    """Set-based, over the accounts of the persons this import wrote (re-homed ones included)."""
    imported = f"{ACCOUNT} x JOIN {SP} s ON s.person_id = x.person_id AND s.testload_id = %(testload)s"
    params = {"testload": run.testload_id}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT SUM(x.balance) FROM {imported}", params)
        cached = money_total(cursor.fetchone()[0])
        entries = f"""{LEDGER} e JOIN {ACCOUNT} x ON x.id = e.account_id
                      JOIN {SP} s ON s.person_id = x.person_id AND s.testload_id = %(testload)s"""
        cursor.execute(f"SELECT SUM(e.amount) FROM {entries}", params)
        ledger = money_total(cursor.fetchone()[0])
        # The half-fen margin only keeps SQLite's binary floats from crying wolf; PostgreSQL's numeric is exact.
        cursor.execute(
            f"""SELECT COUNT(*) FROM {imported}
                LEFT JOIN (SELECT e.account_id, SUM(e.amount) AS total FROM {entries}
                           GROUP BY e.account_id) l ON l.account_id = x.id
                WHERE ABS(x.balance - COALESCE(l.total, 0)) >= 0.005""",
            params,
        )
        unbalanced = cursor.fetchone()[0]
    return Proof(cached=cached, ledger=ledger, unbalanced=unbalanced)


def _counts(run: ImportRun) -> dict[str, int]:
    """The run's figures, from the staging rows and what each phase's chunks wrote."""
    staged = StagedPerson.objects.filter(testload_id=run.testload_id, person_id__isnull=False)
    created = staged.filter(existing_person_id__isnull=True)
    written = dict(
        ImportChunk.objects.filter(run=run).values("phase").annotate(total=Sum("rows")).values_list("phase", "total")
    )
    return {
        "persons_created": created.count(),
        "persons_rehomed": staged.filter(existing_person_id__isnull=False).count(),
        "insurance_numbers_reissued": created.exclude(insurance_number=F("insurance_no")).count(),
        "accounts": written.get("accounts") or 0,
        "contributions": written.get("contributions") or 0,
        "awards": written.get("recipients") or 0,
        "tier_choices": written.get("tier_choices") or 0,
    }


def _proof_error(proof: Proof, expected: Decimal) -> str:
    """Why the money did not arrive, with the figures; empty when it did."""
    problems = []
    if proof.cached != expected:
        problems.append(
            f"导入后账户余额合计 ¥{proof.cached:,}，数据包清单为 ¥{expected:,}，相差 ¥{proof.cached - expected:,}"
        )
    if proof.ledger != expected:
        problems.append(
            f"账户明细（分户账）合计 ¥{proof.ledger:,}，数据包清单为 ¥{expected:,}，相差 ¥{proof.ledger - expected:,}"
        )
    if proof.unbalanced:
        problems.append(f"{proof.unbalanced} 个账户的余额与其明细合计不符")
    return "；".join(problems) + "。请核查更正后重新执行正式导入（封存不解除，统筹区不调整）。" if problems else ""


def _verify(ctx: Context) -> ImportRun:
    """Prove the balances, then move the places, lift the freeze and close the run in one transaction: either
    all of it happens or none, and a failed proof leaves the source as it was (frozen, its places its own)."""
    run, project = ctx.run, ctx.project
    actor = run.started_by
    proof = _prove(run)
    ImportRun.objects.filter(pk=run.pk).update(**_counts(run))
    run.refresh_from_db()
    persons = run.persons_created + run.persons_rehomed
    error = _proof_error(proof, run.balance_expected)
    if error:
        ImportRun.objects.filter(pk=run.pk).update(
            status=ImportStatus.FAILED, balance_imported=proof.cached, error=error, finished_at=timezone.now()
        )
        step_fail(project, Step.IMPORT, actor=actor, error=error)
        run.refresh_from_db()
        return run
    from migration.freezing import freeze_lift  # the freeze's own module lifts it (and records who)

    step = step_of(project, Step.IMPORT)
    step_progress(step, done=step.progress_done, phase="统筹区划调整")
    with transaction.atomic(), freeze_bypass():
        if not ImportChunk.objects.filter(run=run, phase="repool", number=0).exists():
            ImportChunk.objects.create(run=run, phase="repool", number=0, rows=_repool(ctx))
        freeze_lift(actor=actor, project=project)
        ImportRun.objects.filter(pk=run.pk).update(
            status=ImportStatus.DONE, balance_imported=proof.cached, error="", finished_at=timezone.now()
        )
        step_advance(step, 1)
        step_finish(
            project,
            Step.IMPORT,
            actor=actor,
            summary=(
                f"导入 {persons} 人（新建 {run.persons_created} 人，迁入 {run.persons_rehomed} 人，"
                f"重新编号 {run.insurance_numbers_reissued} 人），个人账户 {run.accounts} 个，"
                f"缴费记录 {run.contributions} 条，待遇 {run.awards} 人，档次选择 {run.tier_choices} 条；"
                f"账户余额合计 ¥{proof.cached:,}，账户明细合计 ¥{proof.ledger:,}，均与数据包清单一致，"
                "每个账户的余额与其明细相符。"
            ),
        )
    run.refresh_from_db()
    return run
