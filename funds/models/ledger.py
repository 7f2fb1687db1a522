"""Individual accounts and their append-only ledger.

An account's balance changes only by appending a ``LedgerEntry``; entries are never updated or deleted
(the database refuses it, see migration 0002), and a mistake is corrected by a reversing entry. The
``balance_*`` columns are a cache for speed; ``manage.py check_balances`` proves they equal the sums.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from agencies.models import PoolingRegion
from agencies.money import money_field


class Component(models.TextChoices):
    """Each source kept apart: refunds and inheritance treat the government part differently."""

    PERSONAL = "personal", _("个人缴费")
    GOVERNMENT_SUBSIDY = "government_subsidy", _("政府缴费补贴")
    COLLECTIVE = "collective", _("集体补助")
    DONATION = "donation", _("社会资助")
    GOVERNMENT_PAID = "government_paid", _("政府代缴")
    INTEREST = "interest", _("利息")


# Cached balance column of each component.
BALANCE_COLUMN = {component: f"balance_{component}" for component in Component.values}


class EntryKind(models.TextChoices):
    CONTRIBUTION = "contribution", _("个人缴费")
    SUBSIDY = "subsidy", _("政府缴费补贴")
    COLLECTIVE = "collective", _("集体补助")
    DONATION = "donation", _("社会资助")
    GOVERNMENT_PAID = "government_paid", _("政府代缴")
    INTEREST = "interest", _("记息")
    REVERSAL = "reversal", _("冲正")
    # Money leaving the account (negative amounts), and a transfer's arrival.
    PENSION = "pension", _("个人账户养老金支付")
    TRANSFER_OUT = "transfer_out", _("转出")
    TRANSFER_IN = "transfer_in", _("转入")
    REFUND = "refund", _("退费")
    INHERITANCE = "inheritance", _("继承支付")
    RECOVERY = "recovery", _("冲抵多发待遇")
    FORFEIT = "forfeit", _("政府补助收回基金")


class IndividualAccount(models.Model):
    SCOPE_FIELD = "region_code"

    person = models.OneToOneField(
        "enrollment.InsuredPerson", verbose_name=_("参保人"), on_delete=models.PROTECT, related_name="account"
    )
    # Copied from the person so bulk work (interest by region's rate) joins one table, not three.
    region_code = models.CharField(_("区划代码"), max_length=12)
    pooling_region = models.ForeignKey(PoolingRegion, verbose_name=_("统筹区"), on_delete=models.PROTECT)
    opened_on = models.DateField(_("建账日期"))
    closed_on = models.DateField(_("销户日期"), null=True, blank=True)
    balance_personal = money_field(_("个人缴费余额"))
    balance_government_subsidy = money_field(_("政府补贴余额"))
    balance_collective = money_field(_("集体补助余额"))
    balance_donation = money_field(_("社会资助余额"))
    balance_government_paid = money_field(_("政府代缴余额"))
    balance_interest = money_field(_("利息余额"))
    balance = money_field(_("账户余额"))

    class Meta:
        verbose_name = _("个人账户")
        verbose_name_plural = _("个人账户")
        indexes = [
            models.Index(fields=["region_code"], name="account_region_prefix_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["pooling_region", "id"], name="account_pooling_idx"),
        ]

    def __str__(self) -> str:
        return f"个人账户 {self.person_id}"


class LedgerEntryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("ledger entries are never updated: append a reversing entry")

    def delete(self):
        raise TypeError("ledger entries are never deleted: append a reversing entry")


class LedgerEntry(models.Model):
    SCOPE_FIELD = "account__region_code"

    # Indexed by entry_account_booked_idx, which leads with the account.
    account = models.ForeignKey(IndividualAccount, on_delete=models.PROTECT, related_name="entries", db_index=False)
    component = models.CharField(_("资金来源"), max_length=20, choices=Component.choices)
    kind = models.CharField(_("类型"), max_length=20, choices=EntryKind.choices)
    amount = money_field(_("金额"))  # positive credits the account, negative debits it
    booked_on = models.DateField(_("记账日期"))
    # The year ("2025") or the closing month ("2025-07") that an interest entry settles.
    period = models.CharField(_("计息期间"), max_length=7, blank=True)
    # What the entry records, e.g. "contribution:123"; the retry key of every posting but interest.
    reference = models.CharField(_("来源"), max_length=100, blank=True)
    # Unique where set (see Meta); interest entries go without, their key is the account and period.
    idempotency_key = models.CharField(max_length=120, null=True, blank=True)
    reverses = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversals", db_index=False
    )
    created_at = models.DateTimeField(_("入账时间"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )

    objects = LedgerEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("个人账户明细")
        verbose_name_plural = _("个人账户明细")
        ordering = ["booked_on", "id"]
        # Indexes skip the NULLs that most rows carry (no key, no reversal, no clerk on a bulk interest
        # entry): each index a row enters costs the year-end settlement a second per million accounts.
        indexes = [
            models.Index(fields=["account", "booked_on"], name="entry_account_booked_idx"),
            models.Index(fields=["reverses"], name="entry_reverses_idx", condition=Q(reverses__isnull=False)),
            models.Index(fields=["created_by"], name="entry_created_by_idx", condition=Q(created_by__isnull=False)),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="one_entry_per_idempotency_key",
            ),
            # Interest once per account and period: the nightly job may run twice or be killed half way.
            models.UniqueConstraint(
                fields=["account", "period"], condition=Q(kind="interest"), name="one_interest_per_account_period"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise TypeError("ledger entries are never updated: append a reversing entry")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("ledger entries are never deleted: append a reversing entry")


class SettlementStatus(models.TextChoices):
    RUNNING = "running", _("进行中")
    DONE = "done", _("已完成")
    FAILED = "failed", _("已中断")


class InterestSettlement(models.Model):
    """One run of a pooling region's year-end interest settlement: who, when, how many, how much.

    The settlement writes ledger rows in bulk (SQL, no ``save()``), which bypasses django-simple-history,
    so each run records itself here. A run killed half way stays ``running``; the next run finishes the
    work (the ledger's unique key per account and period keeps it from posting twice) and records itself.
    """

    pooling_region = models.ForeignKey(
        PoolingRegion, verbose_name=_("统筹区"), on_delete=models.PROTECT, related_name="interest_settlements"
    )
    year = models.PositiveSmallIntegerField(_("年度"))
    period = models.CharField(_("计息期间"), max_length=7)
    rate = models.DecimalField(_("记账利率"), max_digits=7, decimal_places=5)
    rounding = models.CharField(_("舍入规则"), max_length=10)
    status = models.CharField(
        _("状态"), max_length=10, choices=SettlementStatus.choices, default=SettlementStatus.RUNNING
    )
    accounts_total = models.PositiveIntegerField(_("应结算账户数"), default=0)
    accounts_done = models.PositiveIntegerField(_("已处理账户数"), default=0)
    entries_posted = models.PositiveIntegerField(_("本次入账笔数"), default=0)
    amount_posted = money_field(_("本次入账利息"))
    started_at = models.DateTimeField(_("开始时间"), auto_now_add=True)
    finished_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    error = models.TextField(_("中断原因"), blank=True)

    class Meta:
        verbose_name = _("结息批次")
        verbose_name_plural = _("结息批次")
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["pooling_region", "year", "status"], name="settlement_region_year_idx")]

    def __str__(self) -> str:
        return f"{self.pooling_region} {self.period} {self.get_status_display()}"
