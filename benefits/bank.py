"""Pensions through the partner banks: the PAYOUT batch (代发) issued from a confirmed payroll run, and its
settled lines marking each award's month paid or failed (a failed one is issued again, in a later batch of
the same run, once the person's bank account is corrected).

The PAYOUT handler is registered with ``funds.batch_handlers`` in ``BenefitsConfig.ready``.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import connection, transaction

from agencies.errors import Conflict
from benefits.models import Award, PayoutStatus, PayrollRun, PayrollStatus
from benefits.payroll import require_covers
from enrollment.models import InsuredPerson
from funds.batch_handlers import BatchHandler
from funds.batches import batch_issue
from funds.models import BankBatch, BankPartner, BatchKind, Fund, ResultReceipt

# One line per award: the month's pension, back pay and offsets together (the payout list's net amount).
_PAYOUT_LINES_SQL = """
    SELECT pl.person_id, pl.award_id AS source_id, pl.region_code, p.insurance_number AS insurance_no,
           p.id_number, p.name, pl.bank_account, SUM(pl.total) AS amount
    FROM benefits_payrollline pl
    JOIN enrollment_insuredperson p ON p.id = pl.person_id
    WHERE pl.run_id = %s AND pl.payout_status = %s AND pl.bank_code = %s AND pl.bank_account <> ''
      -- A pension line the confirmation did not debit was left out of the month (its town was frozen for a
      -- merger): it is not paid from this run, or the account part would leave the fund without its debit.
      AND NOT (pl.kind = 'pension' AND NOT pl.debited)
      AND NOT EXISTS (
          SELECT 1 FROM funds_bankbatchline bl JOIN funds_bankbatch b ON b.id = bl.batch_id
          WHERE b.kind = 'PAYOUT' AND b.source_id = %s AND b.status <> 'settled' AND bl.source_id = pl.award_id)
    GROUP BY pl.person_id, pl.award_id, pl.region_code, p.insurance_number, p.id_number, p.name, pl.bank_account
    HAVING SUM(pl.total) > 0
"""


def payout_reissue_ready(*, run: PayrollRun, actor=None) -> int:
    """Failed lines whose person now has another bank account go back to pending with that account, so the
    next PAYOUT batch of the run pays them; the award's payout account (发放账号) follows, so the months after
    are paid there too (its history says why). Returns how many awards were put back."""
    failed = (
        run.lines.filter(payout_status=PayoutStatus.FAILED)
        .values_list("award_id", "person_id", "bank_code", "bank_account")
        .distinct()
    )
    corrected = []
    persons = InsuredPerson.objects.in_bulk({person_id for _, person_id, _, _ in failed})
    for award_id, person_id, bank_code, bank_account in failed:
        person = persons[person_id]
        if person.bank_account and (person.bank_code, person.bank_account) != (bank_code, bank_account):
            corrected.append((award_id, person.bank_code, person.bank_account))
    with transaction.atomic():
        awards = Award.objects.select_for_update().in_bulk([award_id for award_id, _, _ in corrected])
        for award_id, bank_code, bank_account in corrected:
            run.lines.filter(award_id=award_id, payout_status=PayoutStatus.FAILED).update(
                payout_status=PayoutStatus.PENDING, bank_code=bank_code, bank_account=bank_account
            )
            award = awards[award_id]
            if (award.bank_code, award.bank_account) != (bank_code, bank_account):
                award.bank_code, award.bank_account = bank_code, bank_account
                award._history_user = actor
                award._change_reason = f"{run.month:%Y年%m月}代发失败，按参保人更正后的银行账号发放"
                award.save(update_fields=["bank_code", "bank_account"])
    return len(corrected)


def payout_batch_issue(*, actor, run: PayrollRun, partner: BankPartner) -> BankBatch:
    """A PAYOUT batch of a confirmed run for one bank: every award's net amount not yet paid nor in a live batch."""
    require_covers(actor, run.pooling_region)
    if run.status != PayrollStatus.CONFIRMED:
        raise Conflict(f"{run.month:%Y年%m月}的发放名册尚未确认，不能下发代发批次。", code="not_confirmed")
    # One transaction: lines put back for re-issue stay failed if the batch is refused.
    with transaction.atomic():
        payout_reissue_ready(run=run, actor=actor)
        return batch_issue(
            actor=actor,
            kind=BatchKind.PAYOUT,
            partner=partner,
            pooling_region=run.pooling_region,
            period=f"{run.month:%Y%m}",
            source_id=run.pk,
            lines_sql=_PAYOUT_LINES_SQL,
            lines_params=[run.pk, PayoutStatus.PENDING, partner.code, run.pk],
        )


def settle_payout_chunk(batch: BankBatch, receipt: ResultReceipt, low: int, high: int) -> int:
    """Each award's lines of the run: paid for a ``0000`` line, failed otherwise (pending ones only: exactly once)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """UPDATE benefits_payrollline
               SET payout_status = CASE WHEN r.result_code = '0000' THEN %s ELSE %s END
               FROM funds_resultline r, funds_bankbatchline l
               WHERE r.receipt_id = %s AND r.seq > %s AND r.seq <= %s
                 AND l.batch_id = %s AND l.seq = r.seq
                 AND benefits_payrollline.run_id = %s AND benefits_payrollline.award_id = l.source_id
                 AND benefits_payrollline.payout_status = %s""",
            [
                PayoutStatus.PAID,
                PayoutStatus.FAILED,
                receipt.pk,
                low,
                high,
                batch.pk,
                batch.source_id,
                PayoutStatus.PENDING,
            ],
        )
    return 0


def paid_by_fund(batch: BankBatch, receipt: ResultReceipt) -> dict[str, Decimal]:
    """What left the expenditure account: the account part from the individual-account fund, the rest basic pension."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT COALESCE(SUM(pl.account_paid), 0), COALESCE(SUM(pl.total - pl.account_paid), 0)
               FROM benefits_payrollline pl
               JOIN funds_bankbatchline l ON l.batch_id = %s AND l.source_id = pl.award_id
               JOIN funds_resultline r ON r.receipt_id = %s AND r.seq = l.seq AND r.result_code = '0000'
               WHERE pl.run_id = %s""",
            [batch.pk, receipt.pk, batch.source_id],
        )
        account_part, basic_part = cursor.fetchone()
    cents = Decimal("0.01")
    return {
        Fund.INDIVIDUAL_ACCOUNT: Decimal(str(account_part)).quantize(cents),
        Fund.BASIC_PENSION: Decimal(str(basic_part)).quantize(cents),
    }


PAYOUT_HANDLER = BatchHandler(kind=BatchKind.PAYOUT, settle_chunk=settle_payout_chunk, paid_by_fund=paid_by_fund)
