"""Contribution policy of each pooling region (effective-dated, with history), tier choices,
contributions, collective subsidies and donations."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from agencies.models import PoolingRegion, Region
from agencies.money import Rounding, money_field


class ContributionPolicy(models.Model):
    """One period of a pooling region's contribution rules. Periods follow one another without gap or overlap."""

    pooling_region = models.ForeignKey(
        PoolingRegion, verbose_name=_("统筹区"), on_delete=models.PROTECT, related_name="contribution_policies"
    )
    valid_from = models.DateField(_("生效日期"))
    valid_to = models.DateField(_("失效日期"), null=True, blank=True, help_text=_("空表示一直有效"))
    # The yearly collection window, e.g. 1 January – 31 March (Linyi: the first quarter).
    window_start_month = models.PositiveSmallIntegerField(_("征缴期开始月"), default=1)
    window_start_day = models.PositiveSmallIntegerField(_("征缴期开始日"), default=1)
    window_end_month = models.PositiveSmallIntegerField(_("征缴期结束月"), default=12)
    window_end_day = models.PositiveSmallIntegerField(_("征缴期结束日"), default=31)
    allow_outside_window = models.BooleanField(_("允许征缴期外缴费"), default=False)
    back_payment_max_years = models.PositiveSmallIntegerField(_("补缴年限上限"), default=15)
    # Shares of each government subsidy and 代缴 by level, in percent; they add up to 100.
    province_share = models.DecimalField(_("省级分担比例(%)"), max_digits=5, decimal_places=2, default=0)
    city_share = models.DecimalField(_("市级分担比例(%)"), max_digits=5, decimal_places=2, default=0)
    county_share = models.DecimalField(_("县级分担比例(%)"), max_digits=5, decimal_places=2, default=100)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("缴费政策")
        verbose_name_plural = _("缴费政策")
        ordering = ["pooling_region", "valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["pooling_region", "valid_from"], name="one_policy_per_region_and_start"),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="policy_ends_after_it_starts",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pooling_region} {self.valid_from}起"


class ContributionTier(models.Model):
    """缴费档次 and the government subsidy (政府缴费补贴) it earns."""

    policy = models.ForeignKey(ContributionPolicy, on_delete=models.CASCADE, related_name="tiers")
    amount = money_field(_("缴费档次(元/年)"))
    government_subsidy = money_field(_("政府缴费补贴(元/年)"))
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("缴费档次")
        verbose_name_plural = _("缴费档次")
        ordering = ["policy", "amount"]
        constraints = [models.UniqueConstraint(fields=["policy", "amount"], name="one_tier_per_amount")]

    def __str__(self) -> str:
        return f"{self.amount}元"


class HardshipShare(models.Model):
    """代缴: the part of the lowest tier the government pays for a hardship group (特困 100%, 低保 70%, …)."""

    policy = models.ForeignKey(ContributionPolicy, on_delete=models.CASCADE, related_name="hardship_shares")
    group = models.CharField(_("特殊群体"), max_length=20)  # enrollment.models.SpecialGroup values
    share_percent = models.DecimalField(_("代缴比例(%)"), max_digits=5, decimal_places=2)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("代缴比例")
        verbose_name_plural = _("代缴比例")
        constraints = [models.UniqueConstraint(fields=["policy", "group"], name="one_share_per_group")]


class InterestRate(models.Model):
    """The bookkeeping rate a pooling region sets for a year, and how interest is rounded."""

    pooling_region = models.ForeignKey(
        PoolingRegion, verbose_name=_("统筹区"), on_delete=models.PROTECT, related_name="interest_rates"
    )
    year = models.PositiveSmallIntegerField(_("年度"))
    rate = models.DecimalField(_("记账利率"), max_digits=7, decimal_places=5, help_text=_("如 0.01500 表示 1.5%"))
    rounding = models.CharField(_("舍入规则"), max_length=10, choices=Rounding.choices, default=Rounding.HALF_UP)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("记账利率")
        verbose_name_plural = _("记账利率")
        ordering = ["pooling_region", "year"]
        constraints = [
            models.UniqueConstraint(fields=["pooling_region", "year"], name="one_rate_per_region_and_year"),
            models.CheckConstraint(condition=Q(rate__gte=0) & Q(rate__lt=1), name="rate_is_a_fraction"),
        ]

    def __str__(self) -> str:
        return f"{self.pooling_region} {self.year}年 {self.rate:%}"


class TierSource(models.TextChoices):
    CLERK = "clerk", _("经办录入")
    BATCH = "batch", _("批量导入")
    DEFAULT = "default", _("征缴期末默认最低档")
    PAYMENT = "payment", _("按实缴金额确定")


class TierChoice(models.Model):
    """The tier a person picks for a year. Once that year is paid it cannot change."""

    SCOPE_FIELD = "region_code"

    person = models.ForeignKey("enrollment.InsuredPerson", on_delete=models.PROTECT, related_name="tier_choices")
    year = models.PositiveSmallIntegerField(_("缴费年度"))
    amount = money_field(_("缴费档次"))
    source = models.CharField(_("来源"), max_length=10, choices=TierSource.choices, default=TierSource.CLERK)
    region_code = models.CharField(_("区划代码"), max_length=12)
    chosen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    chosen_at = models.DateTimeField(_("选择时间"), auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("缴费档次选择")
        verbose_name_plural = _("缴费档次选择")
        constraints = [models.UniqueConstraint(fields=["person", "year"], name="one_tier_choice_per_person_year")]
        indexes = [
            models.Index(fields=["region_code"], name="tier_region_prefix_idx", opclasses=["varchar_pattern_ops"]),
        ]


class ContributionKind(models.TextChoices):
    REGULAR = "regular", _("正常缴费")
    BACK_PAYMENT = "back_payment", _("补缴")


class Channel(models.TextChoices):
    COUNTER = "counter", _("银行柜面")
    BANK_FILE = "bank_file", _("银行代扣")


class Contribution(models.Model):
    """One person's contribution for one year, with the government money it brought into the account."""

    SCOPE_FIELD = "region_code"

    # Looked up through one_contribution_per_person_year, which leads with the person.
    person = models.ForeignKey(
        "enrollment.InsuredPerson", on_delete=models.PROTECT, related_name="contributions", db_index=False
    )
    year = models.PositiveSmallIntegerField(_("缴费年度"))
    kind = models.CharField(
        _("类型"), max_length=15, choices=ContributionKind.choices, default=ContributionKind.REGULAR
    )
    tier_amount = money_field(_("缴费档次"))
    personal_amount = money_field(_("个人缴费"))
    government_subsidy = money_field(_("政府缴费补贴"))
    government_paid = money_field(_("政府代缴"))
    paid_on = models.DateField(_("缴费日期"))
    channel = models.CharField(_("缴费渠道"), max_length=10, choices=Channel.choices)
    bank_code = models.CharField(_("银行代码"), max_length=10, blank=True)
    bank_reference = models.CharField(_("银行流水号"), max_length=64)
    region_code = models.CharField(_("区划代码"), max_length=12)
    # Who funds the government money, by level (finance claims each level's part). Each pair of three adds up
    # to government_subsidy and government_paid exactly: the county takes the fen left over by rounding.
    subsidy_province = money_field(_("缴费补贴省级负担"))
    subsidy_city = money_field(_("缴费补贴市级负担"))
    subsidy_county = money_field(_("缴费补贴县级负担"))
    paid_province = money_field(_("政府代缴省级负担"))
    paid_city = money_field(_("政府代缴市级负担"))
    paid_county = money_field(_("政府代缴县级负担"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    recorded_at = models.DateTimeField(_("记录时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("缴费记录")
        verbose_name_plural = _("缴费记录")
        ordering = ["-year", "id"]
        constraints = [
            models.UniqueConstraint(fields=["person", "year"], name="one_contribution_per_person_year"),
            # A bank's transaction id posts once however often the bank or the clerk retries.
            models.UniqueConstraint(fields=["bank_code", "bank_reference"], name="one_contribution_per_bank_reference"),
        ]
        indexes = [
            models.Index(fields=["region_code"], name="contrib_region_prefix_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["year", "region_code"], name="contrib_year_region_idx"),
            # Bank files post without a clerk: index only the rows a clerk recorded.
            models.Index(
                fields=["recorded_by"], name="contrib_recorded_by_idx", condition=Q(recorded_by__isnull=False)
            ),
        ]


class CollectiveSubsidy(models.Model):
    """集体补助 a village grants each of its contributors for a year."""

    SCOPE_FIELD = "region_code"

    village = models.ForeignKey(Region, verbose_name=_("村/社区"), on_delete=models.PROTECT, related_name="+")
    region_code = models.CharField(_("区划代码"), max_length=12)
    year = models.PositiveSmallIntegerField(_("年度"))
    amount_per_person = money_field(_("每人补助金额"))
    decision = models.CharField(_("村民会议决议文号"), max_length=100, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("记录时间"), auto_now_add=True)
    persons_credited = models.PositiveIntegerField(_("已入账人数"), default=0)
    # Contributors whose collective subsidy plus donations would pass the top tier: they got only the part allowed.
    persons_capped = models.PositiveIntegerField(_("受上限限制人数"), default=0)

    class Meta:
        verbose_name = _("集体补助")
        verbose_name_plural = _("集体补助")
        ordering = ["-year", "region_code", "id"]
        constraints = [
            models.UniqueConstraint(fields=["village", "year"], name="one_collective_subsidy_per_village_year")
        ]


class CollectiveSubsidyCredit(models.Model):
    """What one contributor got of a village's collective subsidy: the cap per person is checked against these."""

    SCOPE_FIELD = "person__region_code"

    subsidy = models.ForeignKey(CollectiveSubsidy, on_delete=models.PROTECT, related_name="credits")
    person = models.ForeignKey("enrollment.InsuredPerson", on_delete=models.PROTECT, related_name="+")
    amount = money_field(_("入账金额"))
    capped = models.BooleanField(_("受上限限制"), default=False)

    class Meta:
        verbose_name = _("集体补助入账")
        verbose_name_plural = _("集体补助入账")
        constraints = [models.UniqueConstraint(fields=["subsidy", "person"], name="one_collective_credit_per_person")]


class TierBatchKind(models.TextChoices):
    IMPORT = "import", _("批量导入")
    DEFAULT = "default", _("征缴期末默认最低档")


class TierChoiceBatch(models.Model):
    """The audit row of a bulk write of tier choices (bulk writes bypass the per-row history)."""

    SCOPE_FIELD = "region_code"

    kind = models.CharField(_("类型"), max_length=10, choices=TierBatchKind.choices)
    region_code = models.CharField(_("范围"), max_length=12, blank=True)
    year = models.PositiveSmallIntegerField(_("缴费年度"))
    file_name = models.CharField(_("文件名"), max_length=200, blank=True)
    file_sha256 = models.CharField(_("文件SHA-256"), max_length=64, blank=True)
    rows = models.PositiveIntegerField(_("行数"), default=0)
    created = models.PositiveIntegerField(_("新增"), default=0)
    updated = models.PositiveIntegerField(_("修改"), default=0)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("档次批量记录")
        verbose_name_plural = _("档次批量记录")
        ordering = ["-at", "-id"]


class Donation(models.Model):
    """资助 from a person or organisation to one insured person for a year."""

    SCOPE_FIELD = "region_code"

    person = models.ForeignKey("enrollment.InsuredPerson", on_delete=models.PROTECT, related_name="donations")
    region_code = models.CharField(_("区划代码"), max_length=12)
    year = models.PositiveSmallIntegerField(_("年度"))
    donor = models.CharField(_("资助方"), max_length=100)
    amount = money_field(_("金额"))
    received_on = models.DateField(_("到账日期"))
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("记录时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("社会资助")
        verbose_name_plural = _("社会资助")
        ordering = ["-year", "id"]
