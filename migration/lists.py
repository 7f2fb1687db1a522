"""January's lists after an import (DOMAIN.md: "January's deduction and payout lists are generated for
everyone"): who is to be deducted, with the cut-over year's tier, and who is to be paid, with the cut-over
month's amount. Rows for the page, the same rows as .xlsx, and the counts for the project page.

The lists read the register as it stands (an imported person's later change shows); the caller has checked
that the actor may see the project, and so every place in it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import OuterRef, Q, QuerySet, Subquery
from openpyxl import Workbook

from agencies.exports import xlsx_header
from agencies.money import ZERO
from benefits.models import Award, AwardCategory, AwardPeriod, AwardStatus
from contributions.models import TierChoice
from enrollment.api.serializers import mask_bank_account
from enrollment.idnumber import mask
from enrollment.models import InsuredPerson, PersonStatus
from migration.models import ImportRun, ImportStatus, MergerProject, StagedPerson

LIVE_AWARD = (AwardStatus.ACTIVE, AwardStatus.SUSPENDED)


@dataclass(frozen=True)
class DeductionRow:
    insurance_number: str
    name: str
    id_number_masked: str
    village: str
    bank_code: str
    bank_account_masked: str
    tier: Decimal | None


@dataclass(frozen=True)
class PayoutRow:
    insurance_number: str
    name: str
    id_number_masked: str
    village: str
    category: str
    bank_code: str
    bank_account_masked: str
    amount: Decimal | None


@dataclass(frozen=True)
class ListsSummary:
    contributors: int
    contributors_without_bank: int
    recipients: int
    payout_total: Decimal


def _run(project: MergerProject) -> ImportRun | None:
    return ImportRun.objects.filter(project=project, status=ImportStatus.DONE).order_by("-id").first()


def _imported(project: MergerProject) -> QuerySet[InsuredPerson]:
    run = _run(project)
    if run is None:
        return InsuredPerson.objects.none()
    ids = StagedPerson.objects.filter(testload_id=run.testload_id, person_id__isnull=False).values("person_id")
    return InsuredPerson.objects.filter(pk__in=Subquery(ids))


def _cutover_month(project: MergerProject):
    return project.cutover_date.replace(day=1)


def _contributors(project: MergerProject) -> QuerySet[InsuredPerson]:
    tier = TierChoice.objects.filter(person=OuterRef("pk"), year=project.cutover_date.year).values("amount")[:1]
    return (
        _imported(project)
        .filter(status=PersonStatus.ACTIVE)
        .exclude(awards__status__in=LIVE_AWARD)
        .annotate(tier=Subquery(tier))
        .select_related("village")
        .order_by("region_code", "insurance_number", "id")
    )


def _awards(project: MergerProject) -> QuerySet[Award]:
    month = _cutover_month(project)
    amount = (
        AwardPeriod.objects.filter(award=OuterRef("pk"), replaced_by__isnull=True, valid_from__lte=month)
        .order_by("-valid_from")
        .values("total")[:1]
    )
    return (
        Award.objects.filter(person__in=_imported(project), status=AwardStatus.ACTIVE)
        .filter(Q(paid_until__isnull=True) | Q(paid_until__gt=month))
        .annotate(amount=Subquery(amount))
        .select_related("person__village")
        .order_by("region_code", "person__insurance_number", "id")
    )


def deduction_list(project: MergerProject) -> list[DeductionRow]:
    """Every imported person who contributes (active, not receiving), with the cut-over year's tier."""
    return [
        DeductionRow(
            insurance_number=person.insurance_number or "",
            name=person.name,
            id_number_masked=mask(person.id_number),
            village=person.village.name,
            bank_code=person.bank_code,
            bank_account_masked=mask_bank_account(person.bank_account),
            tier=person.tier,
        )
        for person in _contributors(project).iterator(chunk_size=2000)
    ]


def payout_list(project: MergerProject) -> list[PayoutRow]:
    """Every imported recipient in payment, with the amount due for the cut-over month."""
    labels = dict(AwardCategory.choices)
    return [
        PayoutRow(
            insurance_number=award.person.insurance_number or "",
            name=award.person.name,
            id_number_masked=mask(award.person.id_number),
            village=award.person.village.name,
            category=str(labels.get(award.category, award.category)),
            bank_code=award.bank_code,
            bank_account_masked=mask_bank_account(award.bank_account),
            amount=award.amount,
        )
        for award in _awards(project).iterator(chunk_size=2000)
    ]


def lists_summary(project: MergerProject) -> ListsSummary:
    contributors = _contributors(project)
    amounts = [amount or ZERO for amount in _awards(project).values_list("amount", flat=True)]
    return ListsSummary(
        contributors=contributors.count(),
        contributors_without_bank=contributors.filter(bank_account="").count(),
        recipients=len(amounts),
        payout_total=sum(amounts, ZERO),
    )


DEDUCTION_HEADER = ["保险编号", "姓名", "身份证号", "村（社区）", "银行代码", "银行账号", "缴费档次（元）"]
PAYOUT_HEADER = ["保险编号", "姓名", "身份证号", "村（社区）", "待遇类别", "银行代码", "发放账号", "月发放金额（元）"]


def _xlsx(title: str, header: list[str], rows: list[list]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title)
    xlsx_header(sheet, header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def deduction_xlsx(project: MergerProject) -> bytes:
    rows = deduction_list(project)
    return _xlsx(
        f"{project.cutover_date.year}年扣款名单",
        DEDUCTION_HEADER,
        [
            [r.insurance_number, r.name, r.id_number_masked, r.village, r.bank_code, r.bank_account_masked, r.tier]
            for r in rows
        ],
    )


def payout_xlsx(project: MergerProject) -> bytes:
    rows = payout_list(project)
    return _xlsx(
        f"{project.cutover_date:%Y年%m月}发放名单",
        PAYOUT_HEADER,
        [
            [
                r.insurance_number,
                r.name,
                r.id_number_masked,
                r.village,
                r.category,
                r.bank_code,
                r.bank_account_masked,
                r.amount,
            ]
            for r in rows
        ],
    )
