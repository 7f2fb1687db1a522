"""The checks of a test-load, each a small function that adds findings.

Per-value checks run while the package is read (``migration.testload``); the checks here run afterwards over
the staging tables, set-based: each is one ``INSERT ... SELECT`` into the findings (or a few rows computed
from small sums). ``KINDS`` names every kind of finding with its severity and its title for the report.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import connection

from agencies.errors import DomainError
from benefits.calc import birthday
from benefits.models import AwardStatus, PensionParameters
from contributions import selectors as contribution_selectors
from contributions.bank import _pooling_region_filter
from enrollment import idnumber
from migration import layout
from migration.models import Finding, MergerProject, Severity, TestLoad

B, W = Severity.BLOCKING, Severity.WARNING

KINDS: dict[str, tuple[str, str]] = {
    "package_unreadable": (B, "数据包无法读取"),
    "file_missing": (B, "缺少数据文件"),
    "row_count_mismatch": (B, "行数与清单不符"),
    "sha256_mismatch": (B, "文件校验值与清单不符"),
    "header_missing_column": (B, "表头缺少列"),
    "header_unknown_column": (B, "表头有多余列"),
    "encoding_error": (B, "字符编码错误"),
    "csv_malformed": (B, "CSV格式错误"),
    "value_invalid": (B, "数据格式不正确"),
    "negative_amount": (B, "金额为负数"),
    "totals_mismatch": (B, "清单合计与文件不符"),
    "account_parts_mismatch": (B, "账户余额不等于各部分之和"),
    "balance_total_mismatch": (B, "导入后账户余额合计将与清单不符"),
    "id_number_invalid": (B, "身份证号不正确"),
    "id_number_duplicate": (B, "身份证号重复"),
    "insurance_no_duplicate": (B, "保险编号重复"),
    "already_enrolled_in_target": (B, "已在目标统筹区参保"),
    "already_receiving_in_target": (B, "已在目标统筹区领取待遇"),
    "enrolled_elsewhere": (B, "已在其他地区参保"),
    "orphan_row": (B, "参保人不在persons.csv中"),
    "region_unmapped": (B, "区划代码未对照"),
    "recipient_under_age": (B, "领取人未到领取年龄"),
    "recipient_not_receiving": (B, "领取人参保状态不是领取中"),
    "contribution_after_freeze": (B, "缴费年度晚于封存时间"),
    "tier_not_in_schedule": (B, "档次不在源统筹区档次表中"),
    "rehome": (W, "已在源地区参保，将迁入而非新建"),
    "insurance_no_taken": (W, "保险编号已被他人使用，将重新编号"),
    "person_without_account": (W, "参保人没有个人账户"),
}

STAGED_TABLES = {
    layout.PERSONS: "migration_stagedperson",
    layout.ACCOUNTS: "migration_stagedaccount",
    layout.CONTRIBUTIONS: "migration_stagedcontribution",
    layout.RECIPIENTS: "migration_stagedrecipient",
    layout.TIER_CHOICES: "migration_stagedtierchoice",
}
MONEY_COLUMNS = {
    layout.ACCOUNTS: ("personal", "gov_subsidy", "collective", "other_subsidy", "interest", "pooled", "balance"),
    layout.CONTRIBUTIONS: ("tier", "personal", "gov_subsidy", "collective", "other_subsidy"),
    layout.RECIPIENTS: ("basic_pension", "account_pension", "monthly_total"),
    layout.TIER_CHOICES: ("tier",),
}
ACCOUNT_PARTS = ("personal", "gov_subsidy", "collective", "other_subsidy", "interest", "pooled")
LIVE_AWARD = (AwardStatus.ACTIVE, AwardStatus.SUSPENDED)
DEFAULT_PENSION_AGE = 60


def finding(kind: str, *, file: str = "", line: int | None = None, column: str = "", value: str = "", message: str):
    """An unsaved finding with the kind's severity."""
    return Finding(
        kind=kind,
        severity=KINDS[kind][0],
        file=file,
        line=line,
        column=column,
        value=str(value)[:200],
        message=message,
    )


_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")


def id_number_problem(raw: str, today: dt.date) -> str | None:
    """Why an identity number from a package cannot be taken as it stands (None when it can)."""
    # The common case, a well-formed number, decided without the full parse (hundreds of thousands of rows).
    if _ID_SHAPE.fullmatch(raw) and idnumber.check_character(raw[:17]) == raw[17]:
        birth = _birth_dates.get(raw[6:14])
        if birth is None:
            try:
                birth = dt.date(int(raw[6:10]), int(raw[10:12]), int(raw[12:14]))
            except ValueError:
                birth = dt.date.max
            _birth_dates[raw[6:14]] = birth
        if dt.date(1900, 1, 1) <= birth <= today:
            return None
    try:
        parsed = idnumber.parse(raw, today=today)
    except idnumber.IdNumberError as error:
        return error.message
    if parsed.number != raw:
        return "身份证号含有全角字符、空格或小写x，须为18位半角数字（末位可为大写X）。"
    return None


_birth_dates: dict[str, dt.date] = {}


@dataclass
class Context:
    testload: TestLoad
    project: MergerProject
    manifest: dict
    files: set[str]  # the data files the package holds and that were read

    @property
    def pk(self) -> int:
        return self.testload.pk


def _insert(ctx: Context, kind: str, select: str, params: list) -> None:
    """INSERT ... SELECT findings; ``select`` yields (file, line, column, value, message)."""
    severity = KINDS[kind][0]
    with connection.cursor() as cursor:
        cursor.execute(
            'INSERT INTO migration_finding (testload_id, kind, severity, file, line, "column", value, message) '
            f"SELECT %s, %s, %s, f.* FROM ({select}) f",
            [ctx.pk, kind, severity, *params],
        )


def _value(expr: str) -> str:
    return f"SUBSTR(COALESCE(CAST({expr} AS TEXT), ''), 1, 200)"


# --- cross-row checks ---------------------------------------------------------------------------------------


def check_orphans(ctx: Context) -> None:
    if layout.PERSONS not in ctx.files:
        return
    for name in (layout.ACCOUNTS, layout.CONTRIBUTIONS, layout.RECIPIENTS, layout.TIER_CHOICES):
        if name not in ctx.files:
            continue
        _insert(
            ctx,
            "orphan_row",
            f"""SELECT %s, s.line, 'insurance_no', {_value("s.insurance_no")},
                       '保险编号' || s.insurance_no || '在persons.csv中没有对应的参保人'
                FROM {STAGED_TABLES[name]} s
                WHERE s.testload_id = %s AND s.insurance_no <> ''
                  AND NOT EXISTS (SELECT 1 FROM migration_stagedperson p
                                  WHERE p.testload_id = s.testload_id AND p.insurance_no = s.insurance_no)""",
            [name, ctx.pk],
        )


def _repeats(ctx: Context, kind: str, name: str, column: str, keys: tuple[str, ...], message_sql: str, params: list):
    """Rows whose key already came on an earlier line of the file: a hash aggregation finds the repeated keys
    (few), then their later lines."""
    table = STAGED_TABLES[name]
    joined = " AND ".join(f"d.{key} = s.{key}" for key in keys)
    _insert(
        ctx,
        kind,
        f"""SELECT %s, s.line, %s, {_value("s." + column)}, {message_sql}
            FROM {table} s
            JOIN (SELECT {", ".join(keys)}, MIN(line) AS first_line FROM {table}
                  WHERE testload_id = %s AND {column} <> '' GROUP BY {", ".join(keys)} HAVING COUNT(*) > 1) d
              ON {joined}
            WHERE s.testload_id = %s AND s.line > d.first_line""",
        [name, column, *params, ctx.pk, ctx.pk],
    )


def check_duplicates(ctx: Context) -> None:
    """A later line repeating an identity number, a person's insurance number, or a person's year."""
    if layout.PERSONS in ctx.files:
        _repeats(
            ctx,
            "id_number_duplicate",
            layout.PERSONS,
            "id_number",
            ("id_number",),
            "'身份证号与第' || CAST(d.first_line AS TEXT) || '行重复，一人只能有一条参保记录'",
            [],
        )
    keyed = {
        layout.PERSONS: (("insurance_no",), "persons.csv中保险编号重复"),
        layout.ACCOUNTS: (("insurance_no",), "同一参保人有两行个人账户"),
        layout.CONTRIBUTIONS: (("insurance_no", "year"), "同一参保人同一年度有两行缴费记录"),
        layout.RECIPIENTS: (("insurance_no",), "同一参保人有两行待遇记录"),
        layout.TIER_CHOICES: (("insurance_no", "year"), "同一参保人同一年度有两行档次选择"),
    }
    for name, (keys, message) in keyed.items():
        if name in ctx.files:
            _repeats(
                ctx,
                "insurance_no_duplicate",
                name,
                "insurance_no",
                keys,
                "%s || '（与第' || CAST(d.first_line AS TEXT) || '行）'",
                [message],
            )


def check_negative_amounts(ctx: Context) -> None:
    """One scan per file for rows with any negative amount, then one finding per negative column."""
    for name, columns in MONEY_COLUMNS.items():
        if name not in ctx.files:
            continue
        names = " UNION ALL ".join(f"SELECT '{c}' AS name" for c in columns)
        pick = "CASE c.name " + " ".join(f"WHEN '{c}' THEN s.{c}" for c in columns) + " END"
        _insert(
            ctx,
            "negative_amount",
            f"""SELECT %s, s.line, c.name, {_value(pick)}, c.name || '为负数，金额不能小于零'
                FROM (SELECT * FROM {STAGED_TABLES[name]} WHERE testload_id = %s
                      AND ({" OR ".join(f"{c} < 0" for c in columns)})) s
                CROSS JOIN ({names}) c
                WHERE {pick} < 0""",
            [name, ctx.pk],
        )


def check_account_parts(ctx: Context) -> None:
    if layout.ACCOUNTS not in ctx.files:
        return
    parts = " + ".join(f"s.{c}" for c in ACCOUNT_PARTS)
    # Exact on PostgreSQL's numeric; the half-fen margin only keeps SQLite's binary floats from crying wolf.
    _insert(
        ctx,
        "account_parts_mismatch",
        f"""SELECT %s, s.line, 'balance', {_value("s.balance")},
                   '余额' || CAST(s.balance AS TEXT) || '不等于各部分之和' || CAST({parts} AS TEXT)
            FROM migration_stagedaccount s
            WHERE s.testload_id = %s AND s.balance IS NOT NULL
              AND {" AND ".join(f"s.{c} IS NOT NULL" for c in ACCOUNT_PARTS)} AND ABS(s.balance - ({parts})) >= 0.005""",
        [layout.ACCOUNTS, ctx.pk],
    )


def _sum(table: str, expr: str, pk: int) -> Decimal:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT SUM({expr}) FROM {table} WHERE testload_id = %s", [pk])
        value = cursor.fetchone()[0]
    return Decimal(0).quantize(Decimal("0.01")) if value is None else Decimal(str(value)).quantize(Decimal("0.01"))


def _count(table: str, pk: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE testload_id = %s", [pk])
        return cursor.fetchone()[0]


def _manifest_amount(totals: dict, key: str) -> Decimal | None:
    raw = totals.get(key)
    if isinstance(raw, bool) or raw is None or isinstance(raw, float):
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        return None
    return value if value.is_finite() and value == value.quantize(Decimal("0.01")) else None


def check_totals(ctx: Context) -> None:
    """Each total of the manifest against the sum over its file; and the balance the import would credit."""
    totals = ctx.manifest.get("totals")
    totals = totals if isinstance(totals, dict) else {}
    found: dict[str, object] = {}
    if layout.PERSONS in ctx.files:
        found["persons"] = _count(STAGED_TABLES[layout.PERSONS], ctx.pk)
    if layout.RECIPIENTS in ctx.files:
        found["recipients"] = _count(STAGED_TABLES[layout.RECIPIENTS], ctx.pk)
    if layout.ACCOUNTS in ctx.files:
        found["account_balance"] = _sum("migration_stagedaccount", "balance", ctx.pk)
        found["pooled_account_balance"] = _sum("migration_stagedaccount", "pooled", ctx.pk)
    if layout.CONTRIBUTIONS in ctx.files:
        found["contributions_personal"] = _sum("migration_stagedcontribution", "personal", ctx.pk)
        # The government subsidy column, as the export writes it (collective and other aid are not in it).
        found["contributions_subsidy"] = _sum("migration_stagedcontribution", "gov_subsidy", ctx.pk)
    rows = []
    for key in layout.TOTALS:
        if key not in found:
            continue
        if key in ("persons", "recipients"):
            raw = totals.get(key)
            stated = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
        else:
            stated = _manifest_amount(totals, key)
        if stated is None:
            message = f"清单totals中缺少{key}或其格式不正确，文件合计为{found[key]}"
        elif stated != found[key]:
            message = f"清单totals.{key}为{stated}，文件合计为{found[key]}"
        else:
            continue
        rows.append(
            finding(
                "totals_mismatch", file=layout.MANIFEST, column=key, value=str(totals.get(key, "")), message=message
            )
        )
    if layout.ACCOUNTS in ctx.files:
        stated = _manifest_amount(totals, "account_balance")
        credited = _sum("migration_stagedaccount", " + ".join(ACCOUNT_PARTS), ctx.pk)
        if stated is None or stated != credited:
            rows.append(
                finding(
                    "balance_total_mismatch",
                    file=layout.ACCOUNTS,
                    column="balance",
                    value=str(credited),
                    message=f"导入后个人账户余额合计（各部分含统筹账户并入）为{credited}元，"
                    f"与清单account_balance {stated if stated is not None else '（缺失）'}元不一致，资金将无法对平",
                )
            )
    for row in rows:
        row.testload = ctx.testload
    Finding.objects.bulk_create(rows)


def check_freeze_year(ctx: Context) -> None:
    if layout.CONTRIBUTIONS not in ctx.files:
        return
    frozen = str(ctx.manifest.get("frozen_at") or "")
    try:
        year = dt.datetime.fromisoformat(frozen).year
    except ValueError:
        Finding.objects.create(
            testload=ctx.testload,
            **finding_fields(
                finding(
                    "value_invalid",
                    file=layout.MANIFEST,
                    column="frozen_at",
                    value=frozen,
                    message="清单中的封存时间frozen_at缺失或格式不正确",
                )
            ),
        )
        return
    _insert(
        ctx,
        "contribution_after_freeze",
        f"""SELECT %s, s.line, 'year', {_value("s.year")}, %s
            FROM migration_stagedcontribution s WHERE s.testload_id = %s AND s.year > %s""",
        [layout.CONTRIBUTIONS, f"缴费年度晚于数据封存时间（{year}年）", ctx.pk, year],
    )


def finding_fields(row: Finding) -> dict:
    return {f: getattr(row, f) for f in ("kind", "severity", "file", "line", "column", "value", "message")}


def check_recipients(ctx: Context) -> None:
    """A recipient whose person is not receiving, or who was younger than the pensionable age at the start."""
    if layout.RECIPIENTS not in ctx.files or layout.PERSONS not in ctx.files:
        return
    _insert(
        ctx,
        "recipient_not_receiving",
        f"""SELECT %s, s.line, 'insurance_no', {_value("s.insurance_no")},
                   'persons.csv第' || CAST(p.line AS TEXT) || '行该人状态为' || p.status || '，不是receiving（领取中）'
            FROM migration_stagedrecipient s
            JOIN migration_stagedperson p ON p.testload_id = s.testload_id AND p.insurance_no = s.insurance_no
            WHERE s.testload_id = %s AND p.status <> 'receiving'""",
        [layout.RECIPIENTS, ctx.pk],
    )
    # Few rows (the recipients), and the age rule is a date's: read them and decide here.
    parameters = list(
        PensionParameters.objects.filter(pooling_region=ctx.project.source_pooling_region)
        .order_by("valid_from")
        .values_list("valid_from", "pension_age")
    )

    def pension_age(month: dt.date) -> int:
        age = DEFAULT_PENSION_AGE
        for valid_from, value in parameters:
            if valid_from <= month:
                age = value
        return age

    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT s.line, s.start_month, p.birth_date FROM migration_stagedrecipient s
               JOIN migration_stagedperson p ON p.testload_id = s.testload_id AND p.insurance_no = s.insurance_no
               WHERE s.testload_id = %s AND s.start_month IS NOT NULL AND p.birth_date IS NOT NULL
               ORDER BY s.line""",
            [ctx.pk],
        )
        rows = []
        for line, start_month, birth_date in cursor.fetchall():
            start_month = _as_date(start_month)
            birth_date = _as_date(birth_date)
            age = pension_age(start_month)
            reached = birthday(birth_date, age)
            # Younger than the age on the first day of the start month (a birthday later in that month is too young).
            if reached > start_month:
                rows.append(
                    finding(
                        "recipient_under_age",
                        file=layout.RECIPIENTS,
                        line=line,
                        column="start_month",
                        value=f"{start_month:%Y-%m}",
                        message=f"出生于{birth_date:%Y-%m-%d}，{start_month:%Y年%m月}未满{age}周岁，不能领取待遇",
                    )
                )
    for row in rows:
        row.testload = ctx.testload
    Finding.objects.bulk_create(rows, batch_size=1000)


def _as_date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def check_tiers(ctx: Context) -> None:
    """A chosen tier must be one of the source region's tiers for the year (a year without a policy is one too)."""
    if layout.TIER_CHOICES not in ctx.files:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT year FROM migration_stagedtierchoice WHERE testload_id = %s AND year IS NOT NULL",
            [ctx.pk],
        )
        years = sorted(row[0] for row in cursor.fetchall())
    source = ctx.project.source_pooling_region
    for year in years:
        try:
            amounts = [tier.amount for tier in contribution_selectors.tiers_for(pooling_region=source, year=year)]
        except DomainError:
            amounts = []
        listed = "、".join(str(a.normalize()) if a == a.to_integral() else str(a) for a in amounts)
        message = (
            f"{source.name}{year}年度的档次表中没有该档次（可选：{listed}）"
            if amounts
            else f"{source.name}没有{year}年度的缴费政策（档次表）"
        )
        allowed = "".join(" AND s.tier <> %s" for _ in amounts)
        _insert(
            ctx,
            "tier_not_in_schedule",
            f"""SELECT %s, s.line, 'tier', {_value("s.tier")}, %s
                FROM migration_stagedtierchoice s
                WHERE s.testload_id = %s AND s.year = %s AND s.tier IS NOT NULL{allowed}""",
            [layout.TIER_CHOICES, message, ctx.pk, year, *amounts],
        )


def check_unmapped(ctx: Context) -> None:
    """One finding per region code without a mapping, on its first line, with how many persons it holds."""
    if layout.PERSONS not in ctx.files:
        return
    _insert(
        ctx,
        "region_unmapped",
        f"""SELECT %s, MIN(s.line), 'region_code', {_value("s.region_code")},
                   '区划代码' || s.region_code || '没有对照到目标统筹区的村（社区），涉及'
                   || CAST(COUNT(*) AS TEXT) || '人，请在区划对照中补充'
            FROM migration_stagedperson s
            WHERE s.testload_id = %s AND s.region_code <> '' AND s.target_village_id IS NULL
            GROUP BY s.region_code""",
        [layout.PERSONS, ctx.pk],
    )


def _source_area_sql(project: MergerProject) -> tuple[str, list[str]]:
    if project.source_towns:
        return "(" + " OR ".join("p.region_code LIKE %s" for _ in project.source_towns) + ")", [
            f"{town}%" for town in project.source_towns
        ]
    return _pooling_region_filter(project.source_pooling_region)


def check_register(ctx: Context) -> None:
    """The package's persons against the live register: enrolled in the target (blocking), in the source area
    (re-homed: a warning), anywhere else (blocking); receiving in the target; an insurance number taken."""
    if layout.PERSONS not in ctx.files:
        return
    target_sql, target_params = _pooling_region_filter(ctx.project.target_pooling_region)
    source_sql, source_params = _source_area_sql(ctx.project)
    base = """FROM migration_stagedperson s JOIN enrollment_insuredperson p ON p.id = s.existing_person_id
               WHERE s.testload_id = %s"""
    _insert(
        ctx,
        "already_enrolled_in_target",
        f"""SELECT %s, s.line, 'id_number', {_value("s.id_number")},
                   '该身份证号已在目标统筹区参保（' || p.name || '，保险编号' || COALESCE(p.insurance_number, '') || '）'
            {base} AND {target_sql}""",
        [layout.PERSONS, ctx.pk, *target_params],
    )
    _insert(
        ctx,
        "rehome",
        f"""SELECT %s, s.line, 'id_number', {_value("s.id_number")},
                   '该人已在源地区参保（' || p.name || '），导入时迁入目标统筹区，不新建参保人'
            {base} AND {source_sql} AND NOT {target_sql}""",
        [layout.PERSONS, ctx.pk, *source_params, *target_params],
    )
    _insert(
        ctx,
        "enrolled_elsewhere",
        f"""SELECT %s, s.line, 'id_number', {_value("s.id_number")},
                   '该身份证号已在其他地区参保（区划' || p.region_code || '），一人不能有两条参保记录'
            {base} AND NOT {source_sql} AND NOT {target_sql}""",
        [layout.PERSONS, ctx.pk, *source_params, *target_params],
    )
    _insert(
        ctx,
        "already_receiving_in_target",
        f"""SELECT %s, s.line, 'id_number', {_value("s.id_number")}, '该人已在目标统筹区领取待遇'
            FROM migration_stagedperson s
            WHERE s.testload_id = %s AND s.existing_person_id IS NOT NULL
              AND EXISTS (SELECT 1 FROM benefits_award a WHERE a.person_id = s.existing_person_id
                          AND a.pooling_region_id = %s AND a.status IN (%s, %s))""",
        [layout.PERSONS, ctx.pk, ctx.project.target_pooling_region_id, *LIVE_AWARD],
    )
    _insert(
        ctx,
        "insurance_no_taken",
        f"""SELECT %s, s.line, 'insurance_no', {_value("s.insurance_no")},
                   '保险编号已属于本系统中的另一参保人（' || p.name || '），导入时将重新编号'
            FROM migration_stagedperson s JOIN enrollment_insuredperson p ON p.insurance_number = s.insurance_no
            WHERE s.testload_id = %s AND s.insurance_no <> '' AND p.id_number <> s.id_number""",
        [layout.PERSONS, ctx.pk],
    )


def check_accounts_present(ctx: Context) -> None:
    if layout.PERSONS not in ctx.files or layout.ACCOUNTS not in ctx.files:
        return
    _insert(
        ctx,
        "person_without_account",
        f"""SELECT %s, s.line, 'insurance_no', {_value("s.insurance_no")}, 'accounts.csv中没有该人的个人账户'
            FROM migration_stagedperson s
            WHERE s.testload_id = %s AND s.insurance_no <> ''
              AND NOT EXISTS (SELECT 1 FROM migration_stagedaccount a
                              WHERE a.testload_id = s.testload_id AND a.insurance_no = s.insurance_no)""",
        [layout.PERSONS, ctx.pk],
    )


# The persons' target places and register matches were filled while reading (``migration.testload``).
CHECKS = (
    check_orphans,
    check_duplicates,
    check_negative_amounts,
    check_account_parts,
    check_totals,
    check_freeze_year,
    check_recipients,
    check_tiers,
    check_unmapped,
    check_register,
    check_accounts_present,
)


def run_checks(ctx: Context, progress=None) -> None:
    for number, check in enumerate(CHECKS, start=1):
        check(ctx)
        if progress is not None:
            progress(number, len(CHECKS))
