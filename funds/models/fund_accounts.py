"""The pooling region's three bank accounts (收入户, 支出户, 财政专户), their own movement ledger, the banks'
statements of them and the three-way reconciliation (agency books, bank statement, finance's confirmation).

Income and spending never mix (收支两条线): settled deductions and counter payments arrive in income; the
month-end sweep moves income to the fiscal special account; an approved funding request moves money from
fiscal to expenditure; settled payouts leave expenditure. Each movement names its fund, so the individual-
account fund and the basic-pension money are reported apart (分账管理).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from agencies.models import PoolingRegion
from agencies.money import money_field


class FundAccountKind(models.TextChoices):
    INCOME = "income", _("收入户")
    EXPENDITURE = "expenditure", _("支出户")
    FISCAL = "fiscal", _("财政专户")


class Fund(models.TextChoices):
    INDIVIDUAL_ACCOUNT = "individual_account", _("个人账户基金")
    BASIC_PENSION = "basic_pension", _("基础养老金")


class FundAccount(models.Model):
    pooling_region = models.ForeignKey(
        PoolingRegion, verbose_name=_("统筹区"), on_delete=models.PROTECT, related_name="fund_accounts"
    )
    kind = models.CharField(_("账户类型"), max_length=12, choices=FundAccountKind.choices)
    bank_partner = models.ForeignKey(
        "funds.BankPartner",
        verbose_name=_("开户银行"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    account_number = models.CharField(_("账号"), max_length=32, blank=True)
    # A cache of the sum of the movements; the reconciliation and a test prove it.
    balance = money_field(_("余额"))

    class Meta:
        verbose_name = _("基金专户")
        verbose_name_plural = _("基金专户")
        ordering = ["pooling_region", "kind"]
        constraints = [models.UniqueConstraint(fields=["pooling_region", "kind"], name="one_fund_account_per_kind")]

    def __str__(self) -> str:
        return f"{self.pooling_region.name}{self.get_kind_display()}"


class MovementKind(models.TextChoices):
    DEDUCTION = "deduction", _("代扣缴费到账")
    COUNTER = "counter", _("柜面缴费到账")
    SWEEP_OUT = "sweep_out", _("月末归集转出")
    SWEEP_IN = "sweep_in", _("收入户归集转入")
    FUNDING_OUT = "funding_out", _("拨付支出户")
    FUNDING_IN = "funding_in", _("财政专户拨入")
    PAYOUT = "payout", _("代发待遇支出")
    TRANSFER_OUT = "transfer_out", _("基金划出")
    TRANSFER_IN = "transfer_in", _("基金划入")


class FundMovementQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("fund movements are never updated: book a reversing movement")

    def delete(self):
        raise TypeError("fund movements are never deleted: book a reversing movement")


class FundMovement(models.Model):
    """One movement of money on a fund account: positive in, negative out. Append-only."""

    account = models.ForeignKey(FundAccount, verbose_name=_("账户"), on_delete=models.PROTECT, related_name="movements")
    fund = models.CharField(_("基金"), max_length=20, choices=Fund.choices)
    kind = models.CharField(_("类型"), max_length=15, choices=MovementKind.choices)
    amount = money_field(_("金额"))
    booked_on = models.DateField(_("记账日期"))
    # What the bank shows as the reference of the money (a batch number, a transaction id, a transfer number).
    reference = models.CharField(_("业务编号"), max_length=64)
    counterpart = models.CharField(_("对方"), max_length=100, blank=True)
    idempotency_key = models.CharField(max_length=120, unique=True)
    created_at = models.DateTimeField(_("记账时间"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("经办人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    objects = FundMovementQuerySet.as_manager()

    class Meta:
        verbose_name = _("基金账户流水")
        verbose_name_plural = _("基金账户流水")
        ordering = ["booked_on", "id"]
        indexes = [models.Index(fields=["account", "booked_on"], name="movement_account_booked_idx")]

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise TypeError("fund movements are never updated: book a reversing movement")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("fund movements are never deleted: book a reversing movement")


class BankStatement(models.Model):
    """The bank's statement of one fund account for one day, as posted through the API."""

    account = models.ForeignKey(
        FundAccount, verbose_name=_("账户"), on_delete=models.PROTECT, related_name="statements"
    )
    statement_date = models.DateField(_("对账单日期"))
    sha256 = models.CharField(_("文件SHA-256"), max_length=64)
    opening_balance = money_field(_("期初余额"))
    closing_balance = money_field(_("期末余额"))
    line_count = models.PositiveIntegerField(_("笔数"), default=0)
    received_at = models.DateTimeField(_("接收时间"), auto_now_add=True)
    credential = models.ForeignKey(
        "funds.BankCredential", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("银行对账单")
        verbose_name_plural = _("银行对账单")
        ordering = ["-statement_date", "account"]
        constraints = [
            models.UniqueConstraint(fields=["account", "statement_date"], name="one_statement_per_account_day")
        ]


class Direction(models.TextChoices):
    CREDIT = "C", _("收入")
    DEBIT = "D", _("支出")


class StatementLine(models.Model):
    statement = models.ForeignKey(BankStatement, on_delete=models.CASCADE, related_name="lines")
    line_no = models.PositiveIntegerField(_("行号"))
    value_date = models.DateField(_("交易日期"))
    amount = money_field(_("金额"))  # positive; the direction says which way
    direction = models.CharField(_("方向"), max_length=1, choices=Direction.choices)
    counterpart = models.CharField(_("对方户名"), max_length=100, blank=True)
    reference = models.CharField(_("摘要/业务编号"), max_length=64, blank=True)
    balance = money_field(_("余额"))

    class Meta:
        verbose_name = _("对账单明细")
        verbose_name_plural = _("对账单明细")
        ordering = ["statement", "line_no"]
        constraints = [models.UniqueConstraint(fields=["statement", "line_no"], name="one_statement_line_per_no")]

    @property
    def signed_amount(self):
        return self.amount if self.direction == Direction.CREDIT else -self.amount


class FinanceConfirmation(models.Model):
    """Finance's confirmation (财政确认) that a transfer between fund accounts happened, as staff record it."""

    pooling_region = models.ForeignKey(PoolingRegion, verbose_name=_("统筹区"), on_delete=models.PROTECT)
    reference = models.CharField(_("业务编号"), max_length=64)
    amount = money_field(_("金额"))
    confirmed_on = models.DateField(_("确认日期"))
    document_number = models.CharField(_("财政单据号"), max_length=64, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("录入人"), on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(_("录入时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("财政确认")
        verbose_name_plural = _("财政确认")
        constraints = [
            models.UniqueConstraint(fields=["pooling_region", "reference"], name="one_confirmation_per_reference")
        ]


class DifferenceKind(models.TextChoices):
    ONLY_IN_BOOKS = "only_in_books", _("经办账有、银行无")
    ONLY_IN_BANK = "only_in_bank", _("银行有、经办账无")
    AMOUNT_DIFFERS = "amount_differs", _("金额不符")
    NOT_CONFIRMED = "not_confirmed", _("财政未确认")
    FINANCE_DIFFERS = "finance_differs", _("财政确认金额不符")
    BALANCE_DIFFERS = "balance_differs", _("余额不符")


class DifferenceStatus(models.TextChoices):
    OPEN = "open", _("待处理")
    CLEARED = "cleared", _("已处理")
    RESOLVED = "resolved", _("已自动消除")


class ReconciliationDifference(models.Model):
    """A difference the reconciliation found, open until staff clear it with a reason (or a later run finds
    it gone). ``key`` names it so that running the reconciliation again finds the same difference."""

    account = models.ForeignKey(
        FundAccount, verbose_name=_("账户"), on_delete=models.PROTECT, related_name="differences"
    )
    key = models.CharField(max_length=120)
    kind = models.CharField(_("差异类型"), max_length=20, choices=DifferenceKind.choices)
    on_date = models.DateField(_("日期"))
    reference = models.CharField(_("业务编号"), max_length=64, blank=True)
    books_amount = money_field(_("经办账金额"), null=True, blank=True)
    bank_amount = money_field(_("银行金额"), null=True, blank=True)
    finance_amount = money_field(_("财政确认金额"), null=True, blank=True)
    difference = money_field(_("差额"))
    status = models.CharField(_("状态"), max_length=10, choices=DifferenceStatus.choices, default=DifferenceStatus.OPEN)
    found_at = models.DateTimeField(_("发现时间"), auto_now_add=True)
    reason = models.TextField(_("处理说明"), blank=True)
    cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("处理人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    cleared_at = models.DateTimeField(_("处理时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("对账差异")
        verbose_name_plural = _("对账差异")
        ordering = ["on_date", "id"]
        constraints = [models.UniqueConstraint(fields=["account", "key"], name="one_difference_per_key")]
        indexes = [models.Index(fields=["account", "status"], name="difference_open_idx", condition=Q(status="open"))]
