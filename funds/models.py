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

    account = models.ForeignKey(IndividualAccount, on_delete=models.PROTECT, related_name="entries")
    component = models.CharField(_("资金来源"), max_length=20, choices=Component.choices)
    kind = models.CharField(_("类型"), max_length=20, choices=EntryKind.choices)
    amount = money_field(_("金额"))  # positive credits the account, negative debits it
    booked_on = models.DateField(_("记账日期"))
    # The year ("2025") or the closing month ("2025-07") that an interest entry settles.
    period = models.CharField(_("计息期间"), max_length=7, blank=True)
    # What the entry records, e.g. "contribution:123"; the retry key of every posting but interest.
    reference = models.CharField(_("来源"), max_length=100, blank=True)
    idempotency_key = models.CharField(max_length=120, null=True, blank=True, unique=True)
    reverses = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversals")
    created_at = models.DateTimeField(_("入账时间"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    objects = LedgerEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("个人账户明细")
        verbose_name_plural = _("个人账户明细")
        ordering = ["booked_on", "id"]
        indexes = [models.Index(fields=["account", "booked_on"], name="entry_account_booked_idx")]
        constraints = [
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
