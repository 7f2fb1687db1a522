"""Benefits: the parameters awards are computed from, claims, awards and their amounts, the monthly payroll,
eligibility checks, suspensions and stops, overpayments and their recovery, death settlements and transfers.

Months are ``DateField``s holding the first day of the month. Money is Decimal yuan (``money_field``).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from agencies.models import PoolingRegion, Region
from agencies.money import money_field


class PensionParameters(models.Model):
    """待遇计发参数: what a pooling region pays from a month on, until the next row's month.

    The central minimum is national but entered per region with its effective month, like every local figure.
    """

    pooling_region = models.ForeignKey(
        PoolingRegion, verbose_name=_("统筹区"), on_delete=models.PROTECT, related_name="pension_parameters"
    )
    valid_from = models.DateField(_("执行月份"), help_text=_("自该月起执行（每月1日）"))
    central_minimum = money_field(_("中央基础养老金最低标准(元/月)"))
    local_top_up = money_field(_("地方提高部分(元/月)"))
    per_year_beyond_minimum = money_field(
        _("缴费年限超过最低年限每年加发(元/月)"), help_text=_("长缴多得：超过最低缴费年限的每一年")
    )
    addition_at_65 = money_field(_("65周岁以上加发(元/月)"))
    addition_at_80 = money_field(_("80周岁以上加发(元/月)"), help_text=_("满80周岁后代替65周岁加发"))
    urban_elderly_allowance = money_field(_("城镇老年补贴(元/月)"), help_text=_("0 表示本统筹区不发放"))
    account_divisor = models.PositiveSmallIntegerField(_("个人账户养老金计发月数"), default=139)
    pension_age = models.PositiveSmallIntegerField(_("领取年龄"), default=60)
    minimum_years = models.PositiveSmallIntegerField(_("最低缴费年限"), default=15)
    funeral_grant_fixed = money_field(_("丧葬补助金固定金额(元)"))
    funeral_grant_months = models.DecimalField(
        _("丧葬补助金(月基础养老金倍数)"), max_digits=5, decimal_places=2, default=0
    )
    # The payout timetable (Linyi): funding request to finance, finance's transfer, money in the accounts.
    funding_request_day = models.PositiveSmallIntegerField(_("用款申请报送日"), default=10)
    finance_transfer_day = models.PositiveSmallIntegerField(_("财政拨付日"), default=15)
    bank_credit_day = models.PositiveSmallIntegerField(_("银行到账日"), default=20)
    note = models.CharField(_("文件依据"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("录入人"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("录入时间"), auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("待遇计发参数")
        verbose_name_plural = _("待遇计发参数")
        ordering = ["pooling_region", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["pooling_region", "valid_from"], name="one_parameter_set_per_month"),
            models.CheckConstraint(condition=Q(account_divisor__gt=0), name="parameters_divisor_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.pooling_region} {self.valid_from:%Y-%m}起"


class YearsCreditKind(models.TextChoices):
    DEEMED = "deemed", _("视同缴费年限")
    EMPLOYEES_SCHEME = "employees_scheme", _("职工养老保险转入年限")
    OTHER_REGION = "other_region", _("外统筹区转入年限")


class YearsCredit(models.Model):
    """Contribution years counted beside the contributions on record: deemed years, years brought by a transfer."""

    SCOPE_FIELD = "person__region_code"

    person = models.ForeignKey("enrollment.InsuredPerson", on_delete=models.PROTECT, related_name="years_credits")
    kind = models.CharField(_("类型"), max_length=20, choices=YearsCreditKind.choices)
    years = models.PositiveSmallIntegerField(_("年限"))
    reference = models.CharField(_("依据"), max_length=100)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("记录时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("计算年限")
        verbose_name_plural = _("计算年限")
        constraints = [models.UniqueConstraint(fields=["person", "reference"], name="one_years_credit_per_reference")]


class AwardCategory(models.TextChoices):
    MONTHLY_PENSION = "monthly", _("按月领取养老金")
    BASIC_ONLY = "basic_only", _("基础养老金直补")
    URBAN_ELDERLY = "urban_elderly", _("城镇老年补贴")


class ClaimStatus(models.TextChoices):
    SUBMITTED = "submitted", _("待乡镇审核")
    ACCEPTED = "accepted", _("待县级审批")
    RETURNED = "returned", _("已退回")
    APPROVED = "approved", _("已核定")
    WITHDRAWN = "withdrawn", _("已撤回")


OPEN_CLAIM_STATUSES = (ClaimStatus.SUBMITTED, ClaimStatus.ACCEPTED, ClaimStatus.RETURNED)


class Claim(models.Model):
    """待遇申请表: village → township → county, like the enrollment applications."""

    SCOPE_FIELD = "region_code"

    person = models.ForeignKey(
        "enrollment.InsuredPerson", verbose_name=_("参保人"), on_delete=models.PROTECT, related_name="claims"
    )
    region_code = models.CharField(_("区划代码"), max_length=12, editable=False)
    category = models.CharField(_("待遇类别"), max_length=15, choices=AwardCategory.choices)
    status = models.CharField(_("状态"), max_length=10, choices=ClaimStatus.choices, default=ClaimStatus.SUBMITTED)
    eligible_from = models.DateField(_("符合条件月份"))
    years_paid = models.PositiveSmallIntegerField(_("缴费年限（含视同）"), default=0)
    bank_code = models.CharField(_("发放银行代码"), max_length=10, blank=True)
    bank_account = models.CharField(_("发放账号"), max_length=32, blank=True)
    return_reason = models.TextField(_("退回原因"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("录入人"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("录入时间"), auto_now_add=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("乡镇审核人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(_("乡镇审核时间"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("县级审批人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("审批时间"), null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("待遇申请")
        verbose_name_plural = _("待遇申请")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["region_code"], name="claim_region_prefix_idx", opclasses=["varchar_pattern_ops"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["person"],
                condition=Q(status__in=["submitted", "accepted", "returned"]),
                name="one_open_claim_per_person",
            ),
        ]

    def __str__(self) -> str:
        return f"待遇申请 #{self.pk}"


class AwardStatus(models.TextChoices):
    ACTIVE = "active", _("正常发放")
    SUSPENDED = "suspended", _("暂停发放")
    STOPPED = "stopped", _("终止发放")


class StopReason(models.TextChoices):
    DEATH = "death", _("死亡")
    OTHER_PENSION = "other_pension", _("领取职工养老金等其他基本养老待遇")
    TRANSFER_OUT = "transfer_out", _("转出")
    FRAUD = "fraud", _("冒领/骗取待遇")
    OTHER = "other", _("其他")


class Award(models.Model):
    """待遇核定: a person's pension, from its start month; its amounts by period are ``AwardPeriod`` rows."""

    SCOPE_FIELD = "region_code"

    person = models.ForeignKey(
        "enrollment.InsuredPerson", verbose_name=_("参保人"), on_delete=models.PROTECT, related_name="awards"
    )
    claim = models.OneToOneField(Claim, verbose_name=_("待遇申请"), null=True, blank=True, on_delete=models.PROTECT)
    region_code = models.CharField(_("区划代码"), max_length=12)
    pooling_region = models.ForeignKey(PoolingRegion, verbose_name=_("统筹区"), on_delete=models.PROTECT)
    category = models.CharField(_("待遇类别"), max_length=15, choices=AwardCategory.choices)
    status = models.CharField(_("发放状态"), max_length=10, choices=AwardStatus.choices, default=AwardStatus.ACTIVE)
    start_month = models.DateField(_("待遇起始月"))
    # The first month not paid, once stopped or suspended; payroll pays months before it.
    paid_until = models.DateField(_("停发月份"), null=True, blank=True)
    stop_reason = models.CharField(_("停发原因"), max_length=20, choices=StopReason.choices, blank=True)
    stop_note = models.TextField(_("停发说明"), blank=True)
    birth_date = models.DateField(_("出生日期"))  # copied: age additions are set-based month arithmetic
    years_paid = models.PositiveSmallIntegerField(_("缴费年限（含视同）"))
    account_balance_at_start = money_field(_("起始时个人账户余额"))
    account_divisor = models.PositiveSmallIntegerField(_("计发月数"))
    account_pension = money_field(_("个人账户养老金(元/月)"))
    bank_code = models.CharField(_("发放银行代码"), max_length=10, blank=True)
    bank_account = models.CharField(_("发放账号"), max_length=32, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("核定人"), on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(_("核定时间"), auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("养老金待遇")
        verbose_name_plural = _("养老金待遇")
        ordering = ["region_code", "id"]
        indexes = [
            models.Index(fields=["region_code"], name="award_region_prefix_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["pooling_region", "status", "id"], name="award_pooling_status_idx"),
        ]
        constraints = [
            # One award in payment (or suspended) per person, whatever the code above does.
            models.UniqueConstraint(
                fields=["person"], condition=Q(status__in=["active", "suspended"]), name="one_live_award_per_person"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_category_display()} #{self.pk}"


class AwardPeriod(models.Model):
    """The amounts an award pays from a month on, and what they were computed from (the snapshot).

    Periods are never changed: a recalculation marks the ones it replaces and adds new ones.
    """

    SCOPE_FIELD = "award__region_code"

    award = models.ForeignKey(Award, on_delete=models.CASCADE, related_name="periods")
    valid_from = models.DateField(_("起始月"))
    parameters = models.ForeignKey(PensionParameters, verbose_name=_("计发参数"), on_delete=models.PROTECT)
    central_minimum = money_field(_("中央基础养老金"))
    local_top_up = money_field(_("地方提高部分"))
    years_addition = money_field(_("长缴多得加发"))
    age_addition = money_field(_("高龄加发"))
    urban_allowance = money_field(_("城镇老年补贴"))
    basic_pension = money_field(_("基础养老金"))
    account_pension = money_field(_("个人账户养老金"))
    total = money_field(_("月发放合计"))
    recalculation = models.ForeignKey(
        "Recalculation", null=True, blank=True, on_delete=models.PROTECT, related_name="periods_added"
    )
    replaced_by = models.ForeignKey(
        "Recalculation", null=True, blank=True, on_delete=models.PROTECT, related_name="periods_replaced"
    )

    class Meta:
        verbose_name = _("待遇金额期间")
        verbose_name_plural = _("待遇金额期间")
        ordering = ["award", "valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["award", "valid_from"], condition=Q(replaced_by__isnull=True), name="one_live_period_per_month"
            ),
        ]


class AwardEvent(models.Model):
    """Who did what to a claim or an award, when, and why: approved, recalculated, suspended, resumed, stopped."""

    SCOPE_FIELD = "region_code"

    region_code = models.CharField(max_length=12)
    claim = models.ForeignKey(Claim, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    award = models.ForeignKey(Award, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(_("操作"), max_length=30)
    from_status = models.CharField(_("原状态"), max_length=10, blank=True)
    to_status = models.CharField(_("新状态"), max_length=10, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("操作人"), on_delete=models.PROTECT)
    note = models.TextField(_("说明"), blank=True)
    at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("待遇业务记录")
        verbose_name_plural = _("待遇业务记录")
        ordering = ["at", "id"]


class Recalculation(models.Model):
    """A parameter change applied to every affected award from its month, with the back pay it found."""

    pooling_region = models.ForeignKey(PoolingRegion, on_delete=models.PROTECT, related_name="+")
    parameters = models.ForeignKey(PensionParameters, on_delete=models.PROTECT, related_name="recalculations")
    from_month = models.DateField(_("调整起始月"))
    awards_changed = models.PositiveIntegerField(_("调整人数"), default=0)
    arrears_total = money_field(_("补发合计"))
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("待遇调整")
        verbose_name_plural = _("待遇调整")
        ordering = ["-at", "-id"]


class ArrearStatus(models.TextChoices):
    PENDING = "pending", _("待审核")
    APPROVED = "approved", _("已审核待补发")
    PAID = "paid", _("已补发")


class Arrear(models.Model):
    """Back pay (补发) for one month already paid at the old amount."""

    SCOPE_FIELD = "award__region_code"

    award = models.ForeignKey(Award, on_delete=models.PROTECT, related_name="arrears")
    # None for months missed while suspended, paid on resumption.
    recalculation = models.ForeignKey(
        Recalculation, null=True, blank=True, on_delete=models.PROTECT, related_name="arrears"
    )
    month = models.DateField(_("所属月份"))
    paid_amount = money_field(_("已发金额"))
    due_amount = money_field(_("应发金额"))
    amount = money_field(_("补发金额"))
    status = models.CharField(_("状态"), max_length=10, choices=ArrearStatus.choices, default=ArrearStatus.PENDING)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    payroll_line = models.ForeignKey(
        "PayrollLine", null=True, blank=True, on_delete=models.PROTECT, related_name="arrears"
    )

    class Meta:
        verbose_name = _("待遇补发")
        verbose_name_plural = _("待遇补发")
        ordering = ["award", "month"]
        constraints = [
            models.UniqueConstraint(fields=["award", "recalculation", "month"], name="one_arrear_per_award_month"),
        ]


class PayrollStatus(models.TextChoices):
    DRAFT = "draft", _("试算")
    CONFIRMING = "confirming", _("确认中")
    CONFIRMED = "confirmed", _("已确认")


class PayrollRun(models.Model):
    """One month's payroll of a pooling region: prepared (and re-prepared) as a draft, then confirmed and locked."""

    pooling_region = models.ForeignKey(PoolingRegion, verbose_name=_("统筹区"), on_delete=models.PROTECT)
    month = models.DateField(_("发放月份"))
    status = models.CharField(_("状态"), max_length=10, choices=PayrollStatus.choices, default=PayrollStatus.DRAFT)
    lines_count = models.PositiveIntegerField(_("发放人数"), default=0)
    basic_total = money_field(_("基础养老金合计"))
    account_total = money_field(_("个人账户养老金合计"))
    account_paid_total = money_field(_("个人账户支付"))
    fund_paid_total = money_field(_("账户用完后基金支付"))
    arrears_total = money_field(_("补发合计"))
    total = money_field(_("发放总额"))
    totals_by_category = models.JSONField(_("分类别合计"), default=dict, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("试算人"), on_delete=models.PROTECT, related_name="+"
    )
    prepared_at = models.DateTimeField(_("试算时间"))
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("确认人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    confirmed_at = models.DateTimeField(_("确认时间"), null=True, blank=True)
    funding_request_number = models.CharField(_("用款申请编号"), max_length=40, blank=True)

    class Meta:
        verbose_name = _("月度发放")
        verbose_name_plural = _("月度发放")
        ordering = ["-month", "pooling_region"]
        constraints = [
            models.UniqueConstraint(fields=["pooling_region", "month"], name="one_payroll_per_region_month"),
        ]

    def __str__(self) -> str:
        return f"{self.pooling_region} {self.month:%Y-%m} 发放"


class LineKind(models.TextChoices):
    PENSION = "pension", _("当月养老金")
    ARREARS = "arrears", _("补发")
    RECOVERY = "recovery", _("抵扣多发待遇")


class PayoutStatus(models.TextChoices):
    PENDING = "pending", _("待发放")
    PAID = "paid", _("已到账")
    FAILED = "failed", _("发放失败")


class PayrollLine(models.Model):
    """One award's money in one payroll: the month's pension, or back pay. The payout list is these lines."""

    SCOPE_FIELD = "region_code"

    run = models.ForeignKey(PayrollRun, on_delete=models.CASCADE, related_name="lines")
    award = models.ForeignKey(Award, on_delete=models.PROTECT, related_name="payroll_lines")
    person = models.ForeignKey("enrollment.InsuredPerson", on_delete=models.PROTECT, related_name="+")
    region_code = models.CharField(_("区划代码"), max_length=12)
    kind = models.CharField(_("类型"), max_length=10, choices=LineKind.choices, default=LineKind.PENSION)
    category = models.CharField(_("待遇类别"), max_length=15, choices=AwardCategory.choices)
    basic_pension = money_field(_("基础养老金"))
    account_pension = money_field(_("个人账户养老金"))
    account_paid = money_field(_("个人账户支付"))
    fund_paid = money_field(_("基金支付"))
    total = money_field(_("合计"))
    debited = models.BooleanField(_("已记账"), default=False)
    bank_code = models.CharField(_("银行代码"), max_length=10, blank=True)
    bank_account = models.CharField(_("账号"), max_length=32, blank=True)
    payout_status = models.CharField(
        _("发放结果"), max_length=10, choices=PayoutStatus.choices, default=PayoutStatus.PENDING
    )

    class Meta:
        verbose_name = _("发放明细")
        verbose_name_plural = _("发放明细")
        ordering = ["run", "region_code", "id"]
        indexes = [
            models.Index(fields=["region_code"], name="line_region_prefix_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["award", "run"], name="line_award_run_idx"),
        ]
        constraints = [models.UniqueConstraint(fields=["run", "award", "kind"], name="one_line_per_run_award_kind")]


class CheckChannel(models.TextChoices):
    OFFICE = "office", _("经办机构现场认证")
    PHONE = "phone", _("电话/视频认证")
    SELF_SERVICE = "self_service", _("自助认证")
    DATA_MATCH = "data_match", _("数据比对认证")


class MonthlyConfirmation(models.Model):
    """The village agent's monthly confirmation that a recipient is alive, or a stop request with its reason."""

    SCOPE_FIELD = "award__region_code"

    award = models.ForeignKey(Award, on_delete=models.PROTECT, related_name="confirmations")
    month = models.DateField(_("认证月份"))
    alive = models.BooleanField(_("确认在世并符合条件"))
    stop_reason = models.CharField(_("停发原因"), max_length=20, choices=StopReason.choices, blank=True)
    note = models.TextField(_("说明"), blank=True)
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    confirmed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("每月资格确认")
        verbose_name_plural = _("每月资格确认")
        constraints = [models.UniqueConstraint(fields=["award", "month"], name="one_confirmation_per_award_month")]


class YearlyCheck(models.Model):
    """年检: the yearly eligibility check of a recipient and how it was done."""

    SCOPE_FIELD = "award__region_code"

    award = models.ForeignKey(Award, on_delete=models.PROTECT, related_name="yearly_checks")
    year = models.PositiveSmallIntegerField(_("年度"))
    channel = models.CharField(_("认证方式"), max_length=15, choices=CheckChannel.choices)
    checked_on = models.DateField(_("认证日期"))
    passed = models.BooleanField(_("认证通过"), default=True)
    note = models.TextField(_("说明"), blank=True)
    checked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("年度资格认证")
        verbose_name_plural = _("年度资格认证")
        constraints = [models.UniqueConstraint(fields=["award", "year"], name="one_yearly_check_per_award")]


class DeathListLoad(models.Model):
    """One civil-affairs death and cremation list, loaded whole or not at all."""

    SCOPE_FIELD = "region_code"

    region_code = models.CharField(_("比对范围"), max_length=12)
    file_name = models.CharField(_("文件名"), max_length=200)
    file_sha256 = models.CharField(_("文件SHA-256"), max_length=64)
    rows_read = models.PositiveIntegerField(_("读取行数"), default=0)
    matches = models.PositiveIntegerField(_("匹配人数"), default=0)
    overpayments = models.PositiveIntegerField(_("形成多发待遇"), default=0)
    loaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    loaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("死亡火化名单比对")
        verbose_name_plural = _("死亡火化名单比对")
        ordering = ["-loaded_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["region_code", "file_sha256"], name="one_load_per_death_list"),
        ]


class DeathRecord(models.Model):
    """A recipient's death as learned (death list, family's report): what it stopped and what it recovers."""

    SCOPE_FIELD = "person__region_code"

    person = models.OneToOneField("enrollment.InsuredPerson", on_delete=models.PROTECT, related_name="death")
    died_on = models.DateField(_("死亡日期"))
    source = models.CharField(_("信息来源"), max_length=100)
    load = models.ForeignKey(DeathListLoad, null=True, blank=True, on_delete=models.PROTECT, related_name="deaths")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("死亡信息")
        verbose_name_plural = _("死亡信息")


class OverpaymentStatus(models.TextChoices):
    OPEN = "open", _("追回中")
    RECOVERED = "recovered", _("已追回")
    REFERRED = "referred", _("已移交")


class Overpayment(models.Model):
    """多发待遇: money paid for months the person was not entitled to, and how much is back."""

    SCOPE_FIELD = "region_code"

    award = models.ForeignKey(Award, on_delete=models.PROTECT, related_name="overpayments")
    person = models.ForeignKey("enrollment.InsuredPerson", on_delete=models.PROTECT, related_name="overpayments")
    region_code = models.CharField(_("区划代码"), max_length=12)
    reason = models.CharField(_("原因"), max_length=20, choices=StopReason.choices)
    first_month = models.DateField(_("起始月份"))
    last_month = models.DateField(_("截止月份"))
    amount = money_field(_("多发金额"))
    recovered = money_field(_("已追回金额"))
    # Deducted from each later payroll (后续待遇抵扣) while something is outstanding; 0 means not.
    offset_per_month = money_field(_("每月抵扣金额"))
    status = models.CharField(
        _("状态"), max_length=10, choices=OverpaymentStatus.choices, default=OverpaymentStatus.OPEN
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("多发待遇")
        verbose_name_plural = _("多发待遇")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["award", "reason", "first_month"], name="one_overpayment_per_cause"),
            models.CheckConstraint(condition=Q(recovered__lte=models.F("amount")), name="recovered_within_amount"),
        ]

    @property
    def outstanding(self):
        return self.amount - self.recovered


class RecoveryMethod(models.TextChoices):
    REPAYMENT = "repayment", _("一次性退回")
    INSTALMENT = "instalment", _("分期退回")
    ACCOUNT_OFFSET = "account_offset", _("个人账户余额抵扣")
    BENEFIT_OFFSET = "benefit_offset", _("后续待遇抵扣")


class RecoveryStep(models.Model):
    SCOPE_FIELD = "overpayment__region_code"

    overpayment = models.ForeignKey(Overpayment, on_delete=models.PROTECT, related_name="steps")
    method = models.CharField(_("追回方式"), max_length=20, choices=RecoveryMethod.choices)
    amount = money_field(_("金额"))
    on = models.DateField(_("日期"))
    reference = models.CharField(_("凭证号"), max_length=64)
    note = models.TextField(_("说明"), blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("追回记录")
        verbose_name_plural = _("追回记录")
        ordering = ["on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["overpayment", "reference"], name="one_recovery_step_per_reference"),
        ]


class DeathSettlement(models.Model):
    """On death: the account balance paid to the heir, the funeral grant, the person cancelled."""

    SCOPE_FIELD = "person__region_code"

    person = models.OneToOneField("enrollment.InsuredPerson", on_delete=models.PROTECT, related_name="death_settlement")
    heir_name = models.CharField(_("继承人姓名"), max_length=50)
    heir_id_number = models.CharField(_("继承人身份证号"), max_length=18)
    heir_relation = models.CharField(_("与死者关系"), max_length=20)
    heir_bank_code = models.CharField(_("继承人开户银行代码"), max_length=10, blank=True)
    heir_bank_account = models.CharField(_("继承人账号"), max_length=32, blank=True)
    proof = models.FileField(_("继承权证明"), upload_to="inheritance/%Y/%m/")
    balance_paid = money_field(_("个人账户余额继承"))
    overpayment_offset = money_field(_("抵扣多发待遇"))
    funeral_grant = money_field(_("丧葬补助金"))
    settled_on = models.DateField(_("办理日期"))
    settled_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("死亡待遇结算")
        verbose_name_plural = _("死亡待遇结算")


class TransferKind(models.TextChoices):
    WITHIN_SCHEME = "within", _("城乡居保跨统筹区转移")
    TO_EMPLOYEES = "to_employees", _("转入职工养老保险")
    FROM_EMPLOYEES = "from_employees", _("职工养老保险转入")


class TransferStatus(models.TextChoices):
    REQUESTED = "requested", _("转入地已申请")
    APPROVED = "approved", _("转出地已审核")
    MOVED = "moved", _("转出地已划转")
    BOOKED = "booked", _("转入地已记账")


class Transfer(models.Model):
    """A relationship transfer (关系转移) with the whole account balance.

    Within the scheme: the receiving side applies, the sending side approves and pays (interest settled to
    the month, the whole balance moved out), the receiving side confirms and books. To the employees'
    scheme: approved and moved out, the person cancelled. From it: booked in with its years.
    """

    SCOPE_FIELD = "region_code"

    kind = models.CharField(_("转移类型"), max_length=15, choices=TransferKind.choices)
    person = models.ForeignKey("enrollment.InsuredPerson", on_delete=models.PROTECT, related_name="transfers")
    status = models.CharField(
        _("状态"), max_length=10, choices=TransferStatus.choices, default=TransferStatus.REQUESTED
    )
    # Where the person is now: the sending village until booked, then the receiving one.
    region_code = models.CharField(_("区划代码"), max_length=12)
    from_region_code = models.CharField(_("转出地区划"), max_length=12, blank=True)
    # The receiving village's code: the receiving side sees the transfer too (see selectors).
    to_region_code = models.CharField(_("转入地区划"), max_length=12, blank=True)
    to_village = models.ForeignKey(
        Region, verbose_name=_("转入村/社区"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    hukou_moved_on = models.DateField(_("户籍迁移日期"), null=True, blank=True)
    employee_years = models.PositiveSmallIntegerField(_("职工养老保险缴费年限"), default=0)
    amount = money_field(_("转移金额"))
    amounts_by_component = models.JSONField(_("分项金额"), default=dict, blank=True)
    years_moved = models.PositiveSmallIntegerField(_("转移缴费年限"), default=0)
    reference = models.CharField(_("转移联系函编号"), max_length=64, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    booked_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("关系转移")
        verbose_name_plural = _("关系转移")
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["person"], condition=~Q(status="booked"), name="one_open_transfer_per_person"
            ),
        ]
