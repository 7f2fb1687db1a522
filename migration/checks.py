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
from agencies.money import money_total
from benefits.calc import birthday
from benefits.models import Award, AwardStatus, PensionParameters
from contributions import selectors as contribution_selectors
from contributions.selectors import pooling_region_sql
from enrollment import idnumber
from enrollment.models import InsuredPerson
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
    "rehome_balance_mismatch": (B, "迁入人员账户与本系统不一致"),
    "pooled_not_folded": (B, "统筹账户余额未并入个人账户"),
    "value_too_long": (B, "数据超过本系统字段长度"),
    "manifest_region_mismatch": (B, "清单统筹区与项目不符"),
    "birth_date_mismatch": (B, "出生日期与身份证号不符"),
    "recipient_total_mismatch": (B, "月发放合计小于基础养老金与个人账户养老金之和"),
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
    """An exact sum in yuan. SQLite keeps decimals as binary floats, and a SUM of many large ones can miss by a
    fen: there each row is taken as whole fen (an exact integer) and the integers are summed."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                f"SELECT SUM(CAST(ROUND(({expr}) * 100) AS INTEGER)) FROM {table} WHERE testload_id = %s", [pk]
            )
            fen = cursor.fetchone()[0]
            return money_total(None if fen is None else Decimal(fen) / 100)
        cursor.execute(f"SELECT SUM({expr}) FROM {table} WHERE testload_id = %s", [pk])
        return money_total(cursor.fetchone()[0])


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
    return pooling_region_sql(project.source_pooling_region)


def check_register(ctx: Context) -> None:
    """The package's persons against the live register: enrolled in the target (blocking), in the source area
    (re-homed: a warning), anywhere else (blocking); receiving in the target; an insurance number taken."""
    if layout.PERSONS not in ctx.files:
        return
    target_sql, target_params = pooling_region_sql(ctx.project.target_pooling_region)
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


def check_manifest_regions(ctx: Context) -> None:
    """The package must be of this project's source and for its target: the import re-pools by the project."""
    rows = []
    for key, region, side in (
        ("source_pooling_region", ctx.project.source_pooling_region, "源"),
        ("target_pooling_region", ctx.project.target_pooling_region, "目标"),
    ):
        raw = ctx.manifest.get(key)
        # A pooling region's code written short (320411) or padded to twelve digits (320411000000) is the same.
        if isinstance(raw, str) and raw.strip().ljust(12, "0") == region.code.ljust(12, "0"):
            continue
        rows.append(
            finding(
                "manifest_region_mismatch",
                file=layout.MANIFEST,
                column=key,
                value=str(raw if raw is not None else ""),
                message=f"清单{key}为“{raw if raw is not None else ''}”，本项目的{side}统筹区是"
                f"{region.name}（{region.code}），该数据包不属于本项目",
            )
        )
    for row in rows:
        row.testload = ctx.testload
    Finding.objects.bulk_create(rows)


def check_pooled_folded(ctx: Context) -> None:
    """Without folding, a pooled balance would have nowhere to go: the spec folds it, so the project must."""
    if ctx.project.fold_pooled:
        return
    advice = "数据包规范要求统筹账户并入个人账户，本项目设为不并入，这笔钱将无处入账；请在项目中选择并入后重新试导入"
    if layout.ACCOUNTS in ctx.files:
        _insert(
            ctx,
            "pooled_not_folded",
            f"""SELECT %s, s.line, 'pooled', {_value("s.pooled")}, '统筹账户余额' || CAST(s.pooled AS TEXT) || '元：' || %s
                FROM migration_stagedaccount s WHERE s.testload_id = %s AND s.pooled > 0""",
            [layout.ACCOUNTS, advice, ctx.pk],
        )
    totals = ctx.manifest.get("totals")
    stated = _manifest_amount(totals if isinstance(totals, dict) else {}, "pooled_account_balance")
    if stated is not None and stated > 0:
        Finding.objects.create(
            testload=ctx.testload,
            **finding_fields(
                finding(
                    "pooled_not_folded",
                    file=layout.MANIFEST,
                    column="pooled_account_balance",
                    value=str(stated),
                    message=f"清单统筹账户余额合计{stated}元：{advice}",
                )
            ),
        )


# Text the register keeps in shorter fields than staging: (file, column, register model, its field, label).
REGISTER_LENGTHS: tuple[tuple[str, str, type, str, str], ...] = (
    (layout.PERSONS, "name", InsuredPerson, "name", "姓名"),
    (layout.PERSONS, "phone", InsuredPerson, "phone", "联系电话"),
    (layout.PERSONS, "address", InsuredPerson, "address", "住址"),
    (layout.PERSONS, "bank_code", InsuredPerson, "bank_code", "开户银行代码"),
    (layout.PERSONS, "bank_account", InsuredPerson, "bank_account", "银行账号"),
    (layout.RECIPIENTS, "bank_code", Award, "bank_code", "发放银行代码"),
    (layout.RECIPIENTS, "bank_account", Award, "bank_account", "发放账号"),
)


def check_lengths(ctx: Context) -> None:
    """A value longer than the register's field: the import never cuts one (a cut bank account pays a stranger).
    One scan per file for rows with any value too long, then one finding per such column."""
    for name in (layout.PERSONS, layout.RECIPIENTS):
        if name not in ctx.files:
            continue
        limits = [
            (column, model._meta.get_field(field).max_length, label)
            for file, column, model, field, label in REGISTER_LENGTHS
            if file == name
        ]
        names = " UNION ALL ".join(
            f"SELECT '{column}' AS name, {limit} AS max_length, '{label}' AS label" for column, limit, label in limits
        )
        pick = "CASE c.name " + " ".join(f"WHEN '{column}' THEN s.{column}" for column, _l, _t in limits) + " END"
        _insert(
            ctx,
            "value_too_long",
            f"""SELECT %s, s.line, c.name, {_value(pick)},
                       c.label || '有' || CAST(LENGTH({pick}) AS TEXT) || '个字符，超过本系统上限'
                       || CAST(c.max_length AS TEXT) || '个字符，导入不能截断，请在源系统更正'
                FROM (SELECT * FROM {STAGED_TABLES[name]} WHERE testload_id = %s
                      AND ({" OR ".join(f"LENGTH({column}) > {limit}" for column, limit, _t in limits)})) s
                CROSS JOIN ({names}) c
                WHERE LENGTH({pick}) > c.max_length""",
            [name, ctx.pk],
        )


def check_birth_dates(ctx: Context) -> None:
    """birth_date must be the date inside the identity number: the pension-age check reads birth_date."""
    if layout.PERSONS not in ctx.files:
        return
    inside = "SUBSTR(s.id_number, 7, 4) || '-' || SUBSTR(s.id_number, 11, 2) || '-' || SUBSTR(s.id_number, 13, 2)"
    _insert(
        ctx,
        "birth_date_mismatch",
        f"""SELECT %s, s.line, 'birth_date', {_value("s.birth_date")},
                   '出生日期' || CAST(s.birth_date AS TEXT) || '与身份证号中的出生日期' || {inside} || '不一致'
            FROM migration_stagedperson s
            WHERE s.testload_id = %s AND s.birth_date IS NOT NULL AND LENGTH(s.id_number) = 18
              AND {inside} <> CAST(s.birth_date AS TEXT)""",
        [layout.PERSONS, ctx.pk],
    )


def check_recipient_totals(ctx: Context) -> None:
    """The import keeps monthly_total − basic − account as the years addition: it can be an extra, never less."""
    if layout.RECIPIENTS not in ctx.files:
        return
    _insert(
        ctx,
        "recipient_total_mismatch",
        f"""SELECT %s, s.line, 'monthly_total', {_value("s.monthly_total")},
                   '月发放合计' || CAST(s.monthly_total AS TEXT) || '元小于基础养老金'
                   || CAST(COALESCE(s.basic_pension, 0) AS TEXT) || '元与个人账户养老金'
                   || CAST(COALESCE(s.account_pension, 0) AS TEXT) || '元之和'
            FROM migration_stagedrecipient s
            WHERE s.testload_id = %s AND s.monthly_total IS NOT NULL
              AND s.monthly_total - COALESCE(s.basic_pension, 0) - COALESCE(s.account_pension, 0) <= -0.005""",
        [layout.RECIPIENTS, ctx.pk],
    )


# A re-homed person's package account against their register account: (package column, register expression,
# label). The import keeps the register's account, so any difference would surface only in its balance proof.
REHOME_PARTS: tuple[tuple[str, str, str], ...] = (
    ("personal", "x.balance_personal", "个人缴费"),
    ("gov_subsidy", "x.balance_government_subsidy", "政府补贴"),
    ("collective", "x.balance_collective", "集体补助"),
    ("other_subsidy", "x.balance_donation + x.balance_government_paid", "其他资助"),
    ("interest", "x.balance_interest", "利息"),
    # The pooled part is folded in by the import (without folding, ``check_pooled_folded`` blocks it).
    ("balance", "x.balance", "余额（不含统筹账户）"),
)


def check_rehomed_accounts(ctx: Context) -> None:
    if layout.PERSONS not in ctx.files or layout.ACCOUNTS not in ctx.files:
        return
    package = {column: f"COALESCE(a.{column}, 0)" for column, _x, _l in REHOME_PARTS}
    package["balance"] = "COALESCE(a.balance, 0) - COALESCE(a.pooled, 0)"
    differs = " OR ".join(f"ABS({package[c]} - ({x})) >= 0.005" for c, x, _l in REHOME_PARTS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT s.line, a.line, x.id, {", ".join(package[c] for c, _x, _l in REHOME_PARTS)},
                       {", ".join(f"COALESCE({x}, 0)" for _c, x, _l in REHOME_PARTS)}
                FROM migration_stagedperson s
                LEFT JOIN migration_stagedaccount a ON a.testload_id = s.testload_id AND a.insurance_no = s.insurance_no
                LEFT JOIN funds_individualaccount x ON x.person_id = s.existing_person_id
                WHERE s.testload_id = %s AND s.existing_person_id IS NOT NULL AND s.insurance_no <> ''
                  AND (a.id IS NOT NULL OR x.id IS NOT NULL)
                  AND (a.id IS NULL OR x.id IS NULL OR {differs})
                ORDER BY s.line, a.line""",
            [ctx.pk],
        )
        found = cursor.fetchall()
    width = len(REHOME_PARTS)
    rows = []
    for person_line, account_line, account_id, *values in found:
        if account_line is None:
            rows.append(
                finding(
                    "rehome_balance_mismatch",
                    file=layout.PERSONS,
                    line=person_line,
                    column="insurance_no",
                    message="该人已在本系统参保并有个人账户，accounts.csv中却没有其账户；导入保留本系统账户，清单合计将对不平",
                )
            )
            continue
        if account_id is None:
            rows.append(
                finding(
                    "rehome_balance_mismatch",
                    file=layout.ACCOUNTS,
                    line=account_line,
                    column="balance",
                    message="该人已在本系统参保但本系统没有其个人账户，数据包中的账户余额导入时将无处入账",
                )
            )
            continue
        differing = [
            (column, label, money_total(ours), money_total(theirs))
            for (column, _x, label), ours, theirs in zip(REHOME_PARTS, values[:width], values[width:], strict=True)
            if money_total(ours) != money_total(theirs)
        ]
        if not differing:  # a float's doubt on SQLite, not a fen of difference
            continue
        rows.append(
            finding(
                "rehome_balance_mismatch",
                file=layout.ACCOUNTS,
                line=account_line,
                column=differing[0][0],
                value=str(differing[0][2]),
                message="迁入人员的账户与本系统不一致（导入保留本系统账户，清单合计将对不平）："
                + "；".join(
                    f"{label}（{column}）数据包{ours}元、本系统{theirs}元" for column, label, ours, theirs in differing
                ),
            )
        )
    for row in rows:
        row.testload = ctx.testload
    Finding.objects.bulk_create(rows, batch_size=1000)


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
    check_manifest_regions,
    check_pooled_folded,
    check_lengths,
    check_birth_dates,
    check_recipient_totals,
    check_rehomed_accounts,
)


def run_checks(ctx: Context, progress=None) -> None:
    for number, check in enumerate(CHECKS, start=1):
        check(ctx)
        if progress is not None:
            progress(number, len(CHECKS))
