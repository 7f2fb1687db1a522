"""Demo partner banks and bank batches for the demo city (``manage.py seed_demo``), through the funds services.

- Two partner banks serving all four pooling regions, registered by the administrator: 江南农村商业银行 (bank
  code 314, which holds most demo accounts; its files are GBK, as many rural banks' systems still are) and
  中国农业银行 (103, UTF-8). Each gets one API key; the key is returned here once, for the command to print, and
  only its hash is kept (a re-run issues none: the key of the first run stays valid).
- The three fund accounts (收入户/支出户/财政专户) of every pooling region, held at 江南农商行 with demo numbers,
  named by the fund officer through ``fund_account_bank_set``.
- In 常州市本级, issued by its fund officer: the reference year's DEDUCT batch to 314, a month before the reference
  date, answered by the bank's result file (built from the issued lines as the bank builds it) with a few
  failures — insufficient funds and a closed account in the demo village, so the village agent has someone to
  follow up, and a frozen account elsewhere — received and settled at once; and a DEDUCT batch to 103 issued two
  days before the reference date, still awaiting its result.

The DEDUCT lines come from the contribution plans, which ``contributions`` owns above ``funds``: the caller
hands in its issue service (``issue_deduct``), so this module imports nothing from above. Safe to run again:
each step looks for what an earlier run made (a bank by its code, a batch by its bank, region and year) and
finishes what a killed run left (an issued batch gets its result file, an accepted file its settlement).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from agencies.errors import DomainError
from agencies.models import PoolingRegion, User
from funds.bank_answer import result_file
from funds.bank_partners import credential_issue, partner_register
from funds.batches import receipt_settle, result_receive
from funds.fund_accounts import fund_account_bank_set
from funds.models import (
    BankBatch,
    BankBatchLine,
    BankPartner,
    BatchKind,
    BatchStatus,
    FileEncoding,
    FundAccount,
    FundAccountKind,
    ReceiptStatus,
)


@dataclass(frozen=True)
class DemoBank:
    code: str
    name: str
    encoding: str
    account_prefix: str  # the fund accounts' numbers at this bank start so


BANKS = (
    DemoBank("314", "江苏江南农村商业银行", FileEncoding.GBK, "10100001"),
    DemoBank("103", "中国农业银行", FileEncoding.UTF8, "10600001"),
)
SETTLED_BANK, AWAITING_BANK = "314", "103"
DEMO_POOLING = "320400"  # 常州市本级: the demo line's pooling region
ACCOUNT_KINDS = {FundAccountKind.INCOME: "1", FundAccountKind.EXPENDITURE: "2", FundAccountKind.FISCAL: "3"}

IssueDeduct = Callable[..., BankBatch]


@dataclass
class BankDemo:
    partners: list[str] = field(default_factory=list)  # banks registered by this run
    keys: dict[str, str] = field(default_factory=dict)  # bank name → the key, shown once
    accounts: int = 0  # fund accounts named by this run
    batches: list[str] = field(default_factory=list)  # "batch number: what it is", for the command's report


def seed_bank(
    *,
    reference_date: dt.date,
    admin: User,
    fund_officer: User,
    village_code: str,
    issue_deduct: IssueDeduct,
    pooling_code: str = DEMO_POOLING,
) -> BankDemo:
    """``fund_officer`` covers every pooling region (the city's); ``issue_deduct`` is the DEDUCT issue service
    (``contributions.bank.deduct_batch_issue``); ``village_code`` the demo village whose failures the village
    agent follows up, in the pooling region ``pooling_code`` where the batches are issued."""
    report = BankDemo()
    partners = _ensure_partners(admin, report)
    report.accounts = _ensure_fund_accounts(fund_officer, partners[SETTLED_BANK])
    pooling_region = PoolingRegion.objects.filter(code=pooling_code).first()
    if pooling_region is None:
        return report
    year = reference_date.year
    settled = _deduct_batch(
        issue_deduct,
        fund_officer,
        partners[SETTLED_BANK],
        pooling_region,
        year,
        on=reference_date - dt.timedelta(days=30),
    )
    if settled is not None:
        settled = _answer_and_settle(settled, village_code=village_code)
        report.batches.append(
            f"{settled.batch_no}：{settled.partner.name}{year}年度代扣，已结算，成功{settled.ok_count}笔、"
            f"失败{settled.failed_count}笔"
        )
    awaiting = _deduct_batch(
        issue_deduct,
        fund_officer,
        partners[AWAITING_BANK],
        pooling_region,
        year,
        on=reference_date - dt.timedelta(days=2),
    )
    if awaiting is not None:
        report.batches.append(
            f"{awaiting.batch_no}：{awaiting.partner.name}{year}年度代扣，{awaiting.record_count}笔，待银行回盘"
        )
    return report


def _ensure_partners(admin: User, report: BankDemo) -> dict[str, BankPartner]:
    regions = list(PoolingRegion.objects.order_by("code"))
    partners = {}
    for bank in BANKS:
        partner = BankPartner.objects.filter(code=bank.code).first()
        if partner is None:
            partner = partner_register(
                actor=admin, code=bank.code, name=bank.name, pooling_regions=regions, encoding=bank.encoding
            )
            report.partners.append(partner.name)
        if not partner.credentials.exists():
            report.keys[partner.name] = credential_issue(actor=admin, partner=partner, label="演示环境").key
        partners[bank.code] = partner
    return partners


def _ensure_fund_accounts(officer: User, partner: BankPartner) -> int:
    """Each region's three accounts at ``partner``, numbered from the region code; those named already are kept."""
    named = 0
    bank = next(b for b in BANKS if b.code == partner.code)
    for pooling_region in partner.pooling_regions.order_by("code"):
        have = set(
            FundAccount.objects.filter(pooling_region=pooling_region)
            .exclude(account_number="")
            .values_list("kind", flat=True)
        )
        for kind, digit in ACCOUNT_KINDS.items():
            if kind in have:
                continue
            fund_account_bank_set(
                actor=officer,
                pooling_region=pooling_region,
                kind=kind,
                partner=partner,
                account_number=f"{bank.account_prefix}{pooling_region.code}{digit}",
            )
            named += 1
    return named


def _deduct_batch(
    issue: IssueDeduct, officer: User, partner: BankPartner, pooling_region: PoolingRegion, year: int, *, on: dt.date
) -> BankBatch | None:
    """The region's DEDUCT batch of the year to this bank: the one an earlier run issued, or a new one."""
    existing = (
        BankBatch.objects.filter(
            kind=BatchKind.DEDUCT, partner=partner, pooling_region=pooling_region, period=str(year)
        )
        .select_related("partner", "pooling_region")
        .order_by("id")
        .first()
    )
    if existing is not None:
        return existing
    try:
        return issue(actor=officer, partner=partner, pooling_region=pooling_region, year=year, issued_on=on)
    except DomainError:  # nobody left to deduct from at this bank (a register grown in another way)
        return None


def _failure_codes(lines: list[BankBatchLine], village_code: str) -> dict[int, str]:
    """Two failures in the demo village (insufficient funds, account closed) and a frozen account elsewhere."""
    codes: dict[int, str] = {}
    in_village = [line.seq for line in lines if line.region_code == village_code]
    for seq, code in zip(in_village, ("1001", "1002"), strict=False):
        codes[seq] = code
    elsewhere = [line.seq for line in lines if line.region_code != village_code]
    if len(elsewhere) > 1:  # and the others paid
        codes[elsewhere[-1]] = "1004"
    return codes


def _answer_and_settle(batch: BankBatch, *, village_code: str) -> BankBatch:
    """The bank's result file received (through the same service as the API) and settled at once."""
    if batch.status == BatchStatus.ISSUED:
        lines = list(BankBatchLine.objects.filter(batch=batch).only("seq", "region_code").order_by("seq"))
        data = result_file(batch, _failure_codes(lines, village_code), txn_prefix="JN")
        result_receive(partner=batch.partner, batch_no=batch.batch_no, data=data, idempotency_key="demo-result")
    accepted = batch.receipts.exclude(status=ReceiptStatus.REJECTED).first()
    if accepted is not None and accepted.status != ReceiptStatus.SETTLED:
        # Settled here, whether or not a worker has the queued task: the settlement does everything once.
        receipt_settle(receipt_id=accepted.pk)
    batch.refresh_from_db()
    return batch
