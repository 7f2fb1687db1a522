"""Partner banks, DEDUCT batches and the bank's result files for tests, made through the services."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from agencies.models import Role
from agencies.tests.factories import RegionLine
from contributions import services as contribution_services
from contributions.bank import deduct_batch_issue
from enrollment.models import InsuredPerson
from enrollment.tests.factories import make_person
from funds import bankfile
from funds.bank_answer import answer_lines
from funds.bank_answer import result_file as result_file
from funds.bank_partners import credential_issue, partner_register
from funds.models import BankBatch, BankPartner

BANK = "ABC01"


def make_partner(line: RegionLine, *, code: str = BANK, encoding: str = "utf-8", name: str = "农业银行") -> BankPartner:
    admin = line.staff(Role.ADMINISTRATOR)
    return partner_register(actor=admin, code=code, name=name, pooling_regions=[line.pooling_region], encoding=encoding)


def make_key(line: RegionLine, partner: BankPartner) -> str:
    return credential_issue(actor=line.staff(Role.ADMINISTRATOR), partner=partner).key


def make_payers(
    line: RegionLine, partner: BankPartner, tiers: list[int], *, year: int = 2026, names: list[str] | None = None
) -> list[InsuredPerson]:
    """Active persons banking with ``partner``, each with a tier chosen for ``year`` (the clerk's choice)."""
    clerk = line.staff(Role.TOWNSHIP_CLERK)
    persons = []
    for i, tier in enumerate(tiers):
        person = make_person(
            line.village,
            name=(names[i] if names else f"缴费人{i + 1}"),
            bank_code=partner.code,
            bank_account=f"62284800{i + 1:011d}",
        )
        contribution_services.tier_choice_record(actor=clerk, person=person, year=year, amount=Decimal(tier))
        persons.append(person)
    return persons


def issue_deduct(line: RegionLine, partner: BankPartner, *, year: int = 2026, on: dt.date | None = None) -> BankBatch:
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    return deduct_batch_issue(
        actor=officer,
        partner=partner,
        pooling_region=line.pooling_region,
        year=year,
        issued_on=on or dt.date(year, 3, 2),
    )


def result_lines(batch: BankBatch, codes: dict[int, str] | None = None) -> list[bankfile.ResultLine]:
    """The bank's answer line per issued line: ``0000`` unless ``codes`` says otherwise for that seq."""
    return list(answer_lines(batch, codes))


def _birth(n: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=n // 1000)


def bulk_payers(line: RegionLine, partner: BankPartner, count: int, *, tier: int = 300, year: int = 2026) -> None:
    """Many payers at once, straight in the database (for the volume tests): a person and a tier choice each."""
    from contributions.models import TierChoice, TierSource
    from enrollment.models import PersonStatus

    village = line.village
    start = InsuredPerson.objects.count()
    persons = InsuredPerson.objects.bulk_create(
        [
            InsuredPerson(
                # Unique by birth date and sequence (the file checks the form, not the check digit).
                id_number=f"{village.code[:6]}{_birth(start + i):%Y%m%d}{(start + i) % 1000:03d}X",
                insurance_number=f"{village.code[:6]}{70_000_000 + start + i:08d}",
                name=f"批量{i}",
                name_initials="PL",
                sex="M",
                birth_date=_birth(start + i),
                village=village,
                region_code=village.code,
                status=PersonStatus.ACTIVE,
                bank_code=partner.code,
                bank_account=f"6217{start + i:015d}",
            )
            for i in range(count)
        ]
    )
    TierChoice.objects.bulk_create(
        [
            TierChoice(person=p, year=year, amount=Decimal(tier), source=TierSource.CLERK, region_code=p.region_code)
            for p in persons
        ]
    )
