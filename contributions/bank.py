"""Contributions through the partner banks: the DEDUCT batch (代扣) issued from the year's tier choices, its
settled lines posted as contributions, and the bank's single counter payments (实时缴费).

The DEDUCT handler is registered with ``funds.batch_handlers`` in ``ContributionsConfig.ready``. On
PostgreSQL a chunk of settled lines is posted set-based (contributions by ``INSERT ... SELECT``, then the
ledger through ``funds.bulk.credit_in_bulk``); on SQLite (development) line by line through
``bank_payment_post``, under the same rules.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from agencies.closing import require_open
from agencies.errors import DomainError
from agencies.models import PoolingRegion
from contributions import policy as rules
from contributions import selectors
from contributions.models import Channel, Contribution
from contributions.services import bank_payment_post
from enrollment.models import InsuredPerson, PersonStatus
from funds.batch_handlers import BatchHandler
from funds.batches import (
    all_frozen_refusal,
    batch_issue,
    frozen_patterns,
    frozen_sql,
    left_out_message,
    not_frozen_sql,
)
from funds.bulk import credit_in_bulk
from funds.fund_accounts import movement_post
from funds.models import (
    BankBatch,
    BankBatchLine,
    BankPartner,
    BatchKind,
    Fund,
    FundAccountKind,
    MovementKind,
    ResultCode,
    ResultLine,
    ResultReceipt,
)

log = logging.getLogger(__name__)

# --- issuing ----------------------------------------------------------------------------------------------


def _pooling_region_filter(pooling_region: PoolingRegion) -> tuple[str, list[str]]:
    """Kept for callers of the old private name: ``selectors.pooling_region_sql``."""
    return selectors.pooling_region_sql(pooling_region)


# Persons of a DEDUCT batch: {places} and {frozen} are SQL on p.region_code, their parameters in that order.
_DEDUCT_LINES_SQL = """
    SELECT p.id AS person_id, c.id AS source_id, p.region_code, p.insurance_number AS insurance_no,
           p.id_number, p.name, p.bank_account, c.amount
    FROM contributions_tierchoice c
    JOIN enrollment_insuredperson p ON p.id = c.person_id
    WHERE c.year = %s AND p.status = %s AND p.bank_code = %s AND p.bank_account <> '' AND {places}{frozen}
      AND NOT EXISTS (SELECT 1 FROM contributions_contribution k WHERE k.person_id = p.id AND k.year = %s)
      AND NOT EXISTS (
          SELECT 1 FROM enrollment_specialgroupmembership m
          JOIN contributions_hardshipshare h ON h."group" = m."group" AND h.policy_id = %s AND h.share_percent > 0
          WHERE m.person_id = p.id AND m.certified_on <= %s AND (m.ends_on IS NULL OR m.ends_on >= %s))
      AND NOT EXISTS (
          SELECT 1 FROM funds_bankbatchline bl JOIN funds_bankbatch b ON b.id = bl.batch_id
          WHERE bl.person_id = p.id AND b.kind = 'DEDUCT' AND b.period = %s AND b.status <> 'settled')
"""


def deduct_batch_issue(
    *, actor, partner: BankPartner, pooling_region: PoolingRegion, year: int, issued_on: dt.date | None = None
) -> BankBatch:
    """A DEDUCT batch for the year: every active person of the pooling region who banks with the partner and
    has a tier for the year, and is not paid for it, not in another live DEDUCT batch of the year, and not
    government-paid (代缴 people are not in it, by the contract). The amount is the tier, less nothing.

    Persons in towns frozen for a merger are left out; the batch's ``frozen_left_out`` says how many and
    ``frozen_notice`` says it to the clerk. When everyone is frozen, the freeze's refusal."""
    issued_on = issued_on or timezone.localdate()
    require_open(pooling_region, issued_on)
    year_policy = selectors.policy_for_year(pooling_region=pooling_region, year=year)
    places, place_params = selectors.pooling_region_sql(pooling_region)
    # Towns frozen for a merger wait: their persons are left out (the database would refuse their lines).
    patterns = frozen_patterns()

    def params(frozen: list[str]) -> list:
        return [
            year, PersonStatus.ACTIVE, partner.code, *place_params, *frozen,
            year, year_policy.pk, issued_on, issued_on, str(year),
        ]  # fmt: skip

    left_out, frozen_code = 0, ""
    if patterns:
        frozen_only = _DEDUCT_LINES_SQL.format(places=places, frozen=" AND " + frozen_sql("p.region_code", patterns))
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*), MIN(region_code) FROM ({frozen_only}) AS frozen", params(patterns))
            left_out, frozen_code = cursor.fetchone()
    try:
        batch = batch_issue(
            actor=actor,
            kind=BatchKind.DEDUCT,
            partner=partner,
            pooling_region=pooling_region,
            period=str(year),
            lines_sql=_DEDUCT_LINES_SQL.format(places=places, frozen=not_frozen_sql("p.region_code", patterns)),
            lines_params=params(patterns),
            issued_on=issued_on,
        )
    except DomainError as error:
        if left_out and error.code == "nothing_to_issue":
            raise all_frozen_refusal(frozen_code) from None
        raise
    batch.frozen_left_out = left_out
    batch.frozen_notice = left_out_message(left_out) if left_out else ""
    if left_out:
        log.info("%s: %s", batch.batch_no, batch.frozen_notice)
    return batch


# --- settling ---------------------------------------------------------------------------------------------

POSTED_TABLE = "contributions_deduct_posted"

_REFUND_NOTES = {
    "inactive": "参保人已不在参保缴费状态，代扣款需退还",
    "no_tier": "扣款金额不是该年度的缴费档次，代扣款需退还",
    "paid": "该年度已另有缴费记录，代扣款需退还",
}


def _tier_rows(batch: BankBatch) -> list[tuple[Decimal, Decimal, Decimal, Decimal, Decimal]]:
    year_policy = selectors.policy_for_year(pooling_region=batch.pooling_region, year=int(batch.period))
    shares = dict(province=year_policy.province_share, city=year_policy.city_share, county=year_policy.county_share)
    rows = []
    for tier, subsidy in selectors.tier_table(year_policy).items():
        rows.append((tier, subsidy, *rules.split_by_level(subsidy, **shares)))
    return rows


def settle_deduct_chunk(batch: BankBatch, receipt: ResultReceipt, low: int, high: int) -> int:
    if connection.vendor == "postgresql":
        _post_chunk_in_bulk(batch, receipt, low, high)
    else:
        _post_chunk_line_by_line(batch, receipt, low, high)
    return _mark_refunds(batch, receipt, low, high)


def _post_chunk_in_bulk(batch: BankBatch, receipt: ResultReceipt, low: int, high: int) -> None:
    tiers = _tier_rows(batch)
    values = ", ".join("(%s::numeric, %s::numeric, %s::numeric, %s::numeric, %s::numeric)" for _ in tiers)
    params: list = [value for row in tiers for value in row]
    paid_on = receipt.processed_on
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{POSTED_TABLE}")
        cursor.execute(
            f"CREATE TEMP TABLE {POSTED_TABLE} (id bigint, person_id bigint, region_code varchar(12), "
            "personal_amount numeric(14, 2), government_subsidy numeric(14, 2)) ON COMMIT DROP"
        )
        cursor.execute(
            f"""WITH tiers(tier, subsidy, province, city, county) AS (VALUES {values}),
                posted AS (
                    INSERT INTO contributions_contribution
                        (person_id, year, kind, tier_amount, personal_amount, government_subsidy, government_paid,
                         subsidy_province, subsidy_city, subsidy_county, paid_province, paid_city, paid_county,
                         paid_on, channel, bank_code, bank_reference, region_code, recorded_by_id, recorded_at)
                    SELECT l.person_id, %s, 'regular', l.amount, l.amount, t.subsidy, 0,
                           t.province, t.city, t.county, 0, 0, 0,
                           %s, %s, %s, r.bank_txn_id, p.region_code, NULL, %s
                    FROM funds_resultline r
                    JOIN funds_bankbatchline l ON l.batch_id = %s AND l.seq = r.seq
                    JOIN enrollment_insuredperson p ON p.id = l.person_id
                    JOIN tiers t ON t.tier = l.amount
                    WHERE r.receipt_id = %s AND r.seq > %s AND r.seq <= %s AND r.result_code = '0000'
                      AND p.status = %s
                    ORDER BY l.person_id
                    ON CONFLICT DO NOTHING
                    RETURNING id, person_id, region_code, personal_amount, government_subsidy
                )
                INSERT INTO {POSTED_TABLE} SELECT * FROM posted""",
            [
                *params,
                int(batch.period),
                paid_on,
                Channel.BANK_FILE,
                batch.partner.code,
                timezone.now(),
                batch.pk,
                receipt.pk,
                low,
                high,
                PersonStatus.ACTIVE,
            ],
        )
    # The ledger keys are ledger_post's (``contribution:<id>:<component>:<kind>``): one posting, whichever path.
    credit_in_bulk(
        source_sql=f"""
            SELECT person_id, region_code, 'personal'::varchar AS component, 'contribution'::varchar AS kind,
                   personal_amount AS amount, 'contribution:' || id AS reference,
                   'contribution:' || id || ':personal:contribution' AS idempotency_key
            FROM {POSTED_TABLE} WHERE personal_amount <> 0
            UNION ALL
            SELECT person_id, region_code, 'government_subsidy', 'subsidy', government_subsidy,
                   'contribution:' || id, 'contribution:' || id || ':government_subsidy:subsidy'
            FROM {POSTED_TABLE} WHERE government_subsidy <> 0""",
        params={},
        pooling_region_id=batch.pooling_region_id,
        booked_on=paid_on,
    )


def _post_chunk_line_by_line(batch: BankBatch, receipt: ResultReceipt, low: int, high: int) -> None:
    """SQLite: each success line through the one posting service; a refusal is left for ``_mark_refunds``."""
    results = ResultLine.objects.filter(
        receipt=receipt, seq__gt=low, seq__lte=high, result_code=ResultCode.DONE
    ).values_list("seq", "bank_txn_id")
    lines = {
        line.seq: line
        for line in BankBatchLine.objects.filter(batch=batch, seq__gt=low, seq__lte=high).select_related("person")
    }
    for seq, txn in results:
        line = lines[seq]
        try:
            bank_payment_post(
                person=line.person,
                year=int(batch.period),
                amount=line.amount,
                paid_on=receipt.processed_on,
                channel=Channel.BANK_FILE,
                bank_code=batch.partner.code,
                bank_reference=txn,
                within_window=False,
            )
        except DomainError:
            continue


def _mark_refunds(batch: BankBatch, receipt: ResultReceipt, low: int, high: int) -> int:
    """Success lines with no contribution of their own: the money was taken and must go back. Noted per line."""
    tiers = [row[0] for row in _tier_rows(batch)]
    rows = list(
        ResultLine.objects.filter(receipt=receipt, seq__gt=low, seq__lte=high, result_code=ResultCode.DONE)
        .exclude(
            Exists(Contribution.objects.filter(bank_code=batch.partner.code, bank_reference=OuterRef("bank_txn_id")))
        )
        .values_list("pk", "seq")
    )
    if not rows:
        return 0
    lines = {
        seq: (status, amount)
        for seq, status, amount in BankBatchLine.objects.filter(batch=batch, seq__in=[seq for _, seq in rows])
        .values_list("seq", "person__status", "amount")
        .iterator()
    }
    for pk, seq in rows:
        status, amount = lines[seq]
        reason = "inactive" if status != PersonStatus.ACTIVE else "no_tier" if amount not in tiers else "paid"
        ResultLine.objects.filter(pk=pk).update(follow_up=_REFUND_NOTES[reason])
    return len(rows)


DEDUCT_HANDLER = BatchHandler(
    kind=BatchKind.DEDUCT,
    settle_chunk=settle_deduct_chunk,
    # Every yuan a deduction brings in belongs to the individual-account fund.
    paid_by_fund=lambda batch, receipt: {Fund.INDIVIDUAL_ACCOUNT: receipt.ok_amount},
)


# --- counter payments -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CounterPayment:
    contribution: Contribution
    created: bool


def counter_payment_post(
    *, partner: BankPartner, insurance_no: str, year: int, amount, paid_on: dt.date, bank_txn_id: str
) -> CounterPayment:
    """A bank's single counter payment (实时缴费): the contribution and the money into the income account, in
    one transaction. The same transaction id again returns the first payment; another payment with it is a
    conflict. Only for a person in a pooling region the bank serves (anyone else answers as not found)."""
    person = InsuredPerson.objects.select_related("village").filter(insurance_number=insurance_no).first()
    pooling_region = person.village.effective_pooling_region() if person is not None else None
    if pooling_region is None or not partner.pooling_regions.filter(pk=pooling_region.pk).exists():
        raise DomainError(
            "没有这个保险编号的参保人，或其不在本行服务的统筹区。", code="not_found", field="insurance_no"
        )
    bank_txn_id = "".join(str(bank_txn_id or "").split())  # as the posting service keeps it
    with transaction.atomic():
        # The person's row lock orders twin posts: the second sees the first's payment and is told so.
        InsuredPerson.objects.select_for_update().filter(pk=person.pk).first()
        before = Contribution.objects.filter(bank_code=partner.code, bank_reference=bank_txn_id).exists()
        contribution = bank_payment_post(
            person=person,
            year=year,
            amount=amount,
            paid_on=paid_on,
            channel=Channel.COUNTER,
            bank_code=partner.code,
            bank_reference=bank_txn_id,
        )
        if contribution.personal_amount:
            movement_post(
                pooling_region=pooling_region,
                account_kind=FundAccountKind.INCOME,
                fund=Fund.INDIVIDUAL_ACCOUNT,
                kind=MovementKind.COUNTER,
                amount=contribution.personal_amount,
                booked_on=contribution.paid_on,
                reference=bank_txn_id[:64],
                counterpart=person.name,
                idempotency_key=f"counter:{partner.code}:{bank_txn_id}",
            )
    return CounterPayment(contribution, created=not before)
