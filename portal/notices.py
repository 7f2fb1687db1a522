"""Public notice lists of a village (公示): who paid for a year, and who receives a pension in a month.

Posted on the village's notice board, so every identity number is masked here, in the selector (a template or
an export never holds a full one), and a notice lists the village's own people only, in the order of the
village's register (insurance number). A notice runs for seven days from the day it is printed; complaints go
to the township's office (or the county's, where the township has none in the portal).
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.http import Http404
from django.utils.translation import gettext as _
from openpyxl import Workbook

from agencies.exports import xlsx_header
from agencies.models import Agency, Region, RegionLevel
from agencies.money import ZERO
from agencies.scope import code_in_scope, get_scoped_or_404, scoped
from benefits.models import Award, AwardCategory, AwardPeriod, LineKind, PayrollLine
from contributions.models import Contribution, ContributionKind
from enrollment.idnumber import mask

NOTICE_DAYS = 7
REGISTER_ORDER = (F("person__insurance_number").asc(nulls_last=True), "person_id", "id")


# --- the village ------------------------------------------------------------------------------------------------


def notice_villages(*, user) -> QuerySet[Region]:
    """The villages the user may post notices for: a village agent's own, a township clerk's villages, …"""
    return scoped(Region.objects.filter(level=RegionLevel.VILLAGE), user).select_related("parent").order_by("code")


def notice_village(*, user, code: str) -> Region:
    """A village in the user's scope by its code (404 otherwise, whatever the code names)."""
    return get_scoped_or_404(
        Region.objects.filter(level=RegionLevel.VILLAGE).select_related("parent__parent"), user, code=code
    )


def _require_village(user, village: Region) -> None:
    if village.level != RegionLevel.VILLAGE or not code_in_scope(user, village.code):
        raise Http404


def issuer(village: Region) -> str:
    """Who takes complaints: the township's office, else the county's, else the township's name."""
    township = village.parent
    places = [p for p in (township, township.parent if township else None) if p is not None]
    agencies = {a.region_id: a.name for a in Agency.objects.filter(region__in=places).order_by("-id")}
    for place in places:
        if place.pk in agencies:
            return agencies[place.pk]
    return f"{township.name}社会保障事务所" if township else _("乡镇社会保障事务所")


@dataclass(frozen=True)
class NoticePeriod:
    first: dt.date
    last: dt.date

    @classmethod
    def from_print_date(cls, day: dt.date) -> NoticePeriod:
        """Seven days counting the day it is printed."""
        return cls(day, day + dt.timedelta(days=NOTICE_DAYS - 1))


# --- who paid -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaidLine:
    name: str
    id_number: str  # masked
    tier: Decimal
    personal_amount: Decimal
    paid_on: dt.date
    back_payment: bool


def paid_notice(*, user, village: Region, year: int) -> list[PaidLine]:
    """缴费公示: everyone of the village with a contribution for ``year`` (one per person and year), in register
    order: name, masked identity number, tier, personal amount, the day paid."""
    _require_village(user, village)
    rows = (
        scoped(Contribution.objects.all(), user)
        .filter(region_code=village.code, year=year)
        .order_by(*REGISTER_ORDER)
        .values_list("person__name", "person__id_number", "tier_amount", "personal_amount", "paid_on", "kind")
    )
    return [
        PaidLine(name, mask(number), tier, amount, paid_on, kind == ContributionKind.BACK_PAYMENT)
        for name, number, tier, amount, paid_on, kind in rows
    ]


def paid_title(village: Region, year: int) -> str:
    return _("%(village)s城乡居民基本养老保险缴费公示（%(year)s年度）") % {"village": village.name, "year": year}


def paid_sentence(village: Region, year: int, period: NoticePeriod) -> str:
    return _(
        "现将本村%(year)s年度城乡居民基本养老保险缴费人员名单予以公示，公示期为%(first)s至%(last)s（%(days)s天）。"
        "如对名单有异议，请在公示期内向%(issuer)s反映，监督电话：__________。"
    ) % {
        "year": year,
        "first": f"{period.first:%Y年%m月%d日}",
        "last": f"{period.last:%Y年%m月%d日}",
        "days": NOTICE_DAYS,
        "issuer": issuer(village),
    }


# --- who receives ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecipientLine:
    name: str
    id_number: str  # masked
    category: str
    basic_pension: Decimal
    account_pension: Decimal
    total: Decimal
    from_payroll: bool  # the month's payroll line; else the award's amounts in force that month


def _receiving(month: dt.date) -> Q:
    """Awards paid for the month: started by it and not stopped or suspended from it or before (the payroll's
    rule: ``paid_until`` is the first month not paid)."""
    return Q(start_month__lte=month) & (Q(paid_until__isnull=True) | Q(paid_until__gt=month))


def recipients_notice(*, user, village: Region, month: dt.date) -> list[RecipientLine]:
    """待遇领取公示: everyone of the village paid a pension for ``month``, in register order, with the month's
    amounts from its payroll line, or, before the payroll is made, from the award's period in force."""
    _require_village(user, village)
    month = month.replace(day=1)
    line = PayrollLine.objects.filter(award=OuterRef("pk"), run__month=month, kind=LineKind.PENSION).order_by("-id")
    period = AwardPeriod.objects.filter(award=OuterRef("pk"), replaced_by__isnull=True, valid_from__lte=month).order_by(
        "-valid_from"
    )
    rows = (
        scoped(Award.objects.all(), user)
        .filter(_receiving(month), region_code=village.code)
        .annotate(
            line_basic=Subquery(line.values("basic_pension")[:1]),
            line_account=Subquery(line.values("account_pension")[:1]),
            line_total=Subquery(line.values("total")[:1]),
            period_basic=Subquery(period.values("basic_pension")[:1]),
            period_account=Subquery(period.values("account_pension")[:1]),
            period_total=Subquery(period.values("total")[:1]),
        )
        .order_by(*REGISTER_ORDER)
        .values_list(
            "person__name",
            "person__id_number",
            "category",
            "line_basic",
            "line_account",
            "line_total",
            "period_basic",
            "period_account",
            "period_total",
        )
    )
    labels = dict(AwardCategory.choices)
    result = []
    for name, number, category, l_basic, l_account, l_total, p_basic, p_account, p_total in rows:
        from_payroll = l_total is not None
        basic, account, total = (l_basic, l_account, l_total) if from_payroll else (p_basic, p_account, p_total)
        result.append(
            RecipientLine(
                name,
                mask(number),
                str(labels.get(category, category)),
                _money(basic),
                _money(account),
                _money(total),
                from_payroll,
            )
        )
    return result


def _money(value) -> Decimal:
    return ZERO if value is None else Decimal(value).quantize(Decimal("0.01"))


def recipients_title(village: Region, month: dt.date) -> str:
    return _("%(village)s城乡居民基本养老保险待遇领取公示（%(month)s）") % {
        "village": village.name,
        "month": f"{month:%Y年%m月}",
    }


def recipients_sentence(village: Region, month: dt.date, period: NoticePeriod) -> str:
    return _(
        "现将本村%(month)s城乡居民基本养老保险待遇领取人员名单予以公示，公示期为%(first)s至%(last)s（%(days)s天）。"
        "如发现领取人员已死亡、服刑或领取其他基本养老保险待遇等情形，请在公示期内向%(issuer)s反映，"
        "监督电话：__________。"
    ) % {
        "month": f"{month:%Y年%m月}",
        "first": f"{period.first:%Y年%m月%d日}",
        "last": f"{period.last:%Y年%m月%d日}",
        "days": NOTICE_DAYS,
        "issuer": issuer(village),
    }


# --- .xlsx ------------------------------------------------------------------------------------------------------------


def _workbook(title: str, sentence: str, header: list[str], rows: list[list], footer: str) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31].replace("（", "(").replace("）", ")"))
    sheet.append([title])
    sheet.append([sentence])
    xlsx_header(sheet, header)
    for row in rows:
        sheet.append(row)
    sheet.append([footer])
    handle = io.BytesIO()
    book.save(handle)
    return handle.getvalue()


def paid_notice_xlsx(*, user, village: Region, year: int, period: NoticePeriod) -> bytes:
    lines = paid_notice(user=user, village=village, year=year)
    total = sum((line.personal_amount for line in lines), ZERO)
    return _workbook(
        paid_title(village, year),
        paid_sentence(village, year, period),
        ["序号", "姓名", "身份证号", "缴费档次（元）", "个人缴费（元）", "缴费日期", "备注"],
        [
            [
                i,
                line.name,
                line.id_number,
                line.tier,
                line.personal_amount,
                line.paid_on,
                "补缴" if line.back_payment else "",
            ]
            for i, line in enumerate(lines, start=1)
        ],
        _("合计：%(n)s人，个人缴费%(total)s元") % {"n": len(lines), "total": total},
    )


def recipients_notice_xlsx(*, user, village: Region, month: dt.date, period: NoticePeriod) -> bytes:
    lines = recipients_notice(user=user, village=village, month=month)
    total = sum((line.total for line in lines), ZERO)
    return _workbook(
        recipients_title(village, month),
        recipients_sentence(village, month, period),
        ["序号", "姓名", "身份证号", "待遇类别", "基础养老金（元/月）", "个人账户养老金（元/月）", "月发放合计（元）"],
        [
            [i, line.name, line.id_number, line.category, line.basic_pension, line.account_pension, line.total]
            for i, line in enumerate(lines, start=1)
        ],
        _("合计：%(n)s人，月发放%(total)s元") % {"n": len(lines), "total": total},
    )
