"""What the portal keeps of its own: the nightly summaries the dashboards and reports read, the promised time
limits (办理时限), the year's targets (目标任务分解), the standardisation assessment's hand-entered items, the fund
warning thresholds and the monthly report files kept for later download.

Every measure a supervisor sees is computed from ``MonthlySummary`` rows (``portal.measures``), which the nightly
job (``portal.summaries``) rebuilds from the register, so a number never differs between a chart, its table and
the report, and pages stay fast at millions of persons.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from agencies.models import PoolingRegion, Region
from agencies.money import money_field


class MonthlySummary(models.Model):
    """One village's figures for one month, as of the month's end (or today, for the running month).

    Stocks (how many are insured, receiving, …) are counted at the month's end; flows (new members, income, …)
    within the month; the renewal counts are the contribution year's to date.
    """

    SCOPE_FIELD = "region_code"

    region_code = models.CharField(_("区划代码"), max_length=12)
    month = models.DateField(_("月份"))  # the first day of the month
    # Stocks at the month's end.
    insured = models.PositiveIntegerField(_("参保人数"), default=0)  # active, contributing or receiving
    recipients = models.PositiveIntegerField(_("领取待遇人数"), default=0)
    should_insure = models.PositiveIntegerField(_("应参保人数"), default=0)
    # Flows in the month.
    new_members = models.PositiveIntegerField(_("新增参保"), default=0)
    cancelled = models.PositiveIntegerField(_("注销"), default=0)
    payers = models.PositiveIntegerField(_("缴费人数"), default=0)
    contribution_income = money_field(_("个人缴费收入"))
    # Renewal (续保) for the contribution year to date: who paid last year, and of them who paid this year.
    renewal_due_young = models.PositiveIntegerField(_("16-44岁应续保"), default=0)
    renewal_paid_young = models.PositiveIntegerField(_("16-44岁已续保"), default=0)
    renewal_due_old = models.PositiveIntegerField(_("45-59岁应续保"), default=0)
    renewal_paid_old = models.PositiveIntegerField(_("45-59岁已续保"), default=0)
    # The month's payroll: lines, lines paid, and the money by part.
    payroll_lines = models.PositiveIntegerField(_("应发人数"), default=0)
    payroll_paid = models.PositiveIntegerField(_("已发人数"), default=0)
    basic_pension = money_field(_("基础养老金"))
    account_pension = money_field(_("个人账户养老金"))
    # Applications: submitted, returned for an entry error, and open past their time limit at the month's end.
    applications = models.PositiveIntegerField(_("受理申请"), default=0)
    applications_returned = models.PositiveIntegerField(_("退回更正"), default=0)
    applications_overdue = models.PositiveIntegerField(_("超时限未办结"), default=0)
    computed_at = models.DateTimeField(_("计算时间"), auto_now=True)

    class Meta:
        verbose_name = _("月度汇总")
        verbose_name_plural = _("月度汇总")
        ordering = ["region_code", "month"]
        constraints = [models.UniqueConstraint(fields=["region_code", "month"], name="one_summary_per_village_month")]
        indexes = [
            models.Index(fields=["month", "region_code"], name="summary_month_region"),
            models.Index(fields=["region_code"], name="summary_region_prefix", opclasses=["varchar_pattern_ops"]),
        ]


class FundBalanceSummary(models.Model):
    """A pooling region's balance on one fund account, for one fund, at a month's end (today, for the running
    month): the sum of its movements, precomputed nightly so a city's dashboard never sums years of movements."""

    pooling_region = models.ForeignKey(
        PoolingRegion, verbose_name=_("统筹区"), on_delete=models.CASCADE, related_name="+"
    )
    month = models.DateField(_("月份"))
    account_kind = models.CharField(_("账户类型"), max_length=12)
    fund = models.CharField(_("基金"), max_length=20)
    balance = money_field(_("余额"))

    class Meta:
        verbose_name = _("基金余额汇总")
        verbose_name_plural = _("基金余额汇总")
        ordering = ["pooling_region", "month", "account_kind", "fund"]
        constraints = [
            models.UniqueConstraint(
                fields=["pooling_region", "month", "account_kind", "fund"], name="one_fund_balance_per_month"
            )
        ]


class RetirementCohort(models.Model):
    """How many active contributors of a pooling region will reach the pension age with enough years in each coming
    year, counted nightly from the register for the fund projection (a count the page must not scan for)."""

    pooling_region = models.ForeignKey(PoolingRegion, on_delete=models.CASCADE, related_name="+")
    counted_in = models.PositiveSmallIntegerField(_("统计年度"))  # the year the count was made in
    pension_age = models.PositiveSmallIntegerField()
    minimum_years = models.PositiveSmallIntegerField()
    year = models.PositiveSmallIntegerField(_("达到领取年龄年度"))
    persons = models.PositiveIntegerField(_("人数"))
    counted_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("待遇领取预测人数")
        verbose_name_plural = _("待遇领取预测人数")
        constraints = [
            models.UniqueConstraint(
                fields=["pooling_region", "counted_in", "pension_age", "minimum_years", "year"], name="one_cohort_count"
            )
        ]


class SummaryRun(models.Model):
    """One nightly rebuild of a month's summaries: who, when, how many villages (bulk writes audit themselves)."""

    month = models.DateField(_("月份"))
    started_at = models.DateTimeField(_("开始时间"), auto_now_add=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    villages = models.PositiveIntegerField(_("村数"), default=0)
    seconds = models.FloatField(_("耗时（秒）"), null=True, blank=True)

    class Meta:
        verbose_name = _("汇总计算")
        verbose_name_plural = _("汇总计算")
        ordering = ["-started_at"]


class WorkKind(models.TextChoices):
    """Kinds of business with a promised time limit (办理时限)."""

    REGISTER = "register", _("参保登记")
    CHANGE = "change", _("变更登记")
    CANCEL = "cancel", _("注销登记")
    CLAIM = "claim", _("待遇申请")
    TRANSFER = "transfer", _("关系转移")


class TimeLimit(models.Model):
    """办理时限: working days from submission to the decision, promised per kind and pooling region, from a date."""

    pooling_region = models.ForeignKey(PoolingRegion, verbose_name=_("统筹区"), on_delete=models.PROTECT)
    kind = models.CharField(_("业务类型"), max_length=12, choices=WorkKind.choices)
    working_days = models.PositiveSmallIntegerField(_("办理时限（工作日）"))
    valid_from = models.DateField(_("生效日期"))
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("设置人"), on_delete=models.PROTECT, related_name="+"
    )
    set_at = models.DateTimeField(_("设置时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("办理时限")
        verbose_name_plural = _("办理时限")
        ordering = ["pooling_region", "kind", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["pooling_region", "kind", "valid_from"], name="one_time_limit_per_day"),
        ]


class Target(models.Model):
    """目标任务: a county's or township's targets for a year, from its responsibility agreement."""

    SCOPE_FIELD = "region__code"

    region = models.ForeignKey(Region, verbose_name=_("区划"), on_delete=models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField(_("年度"))
    new_members = models.PositiveIntegerField(_("新增参保（人）"), null=True, blank=True)
    renewals = models.PositiveIntegerField(_("续保（人）"), null=True, blank=True)
    coverage_rate = models.DecimalField(_("参保率目标"), max_digits=5, decimal_places=4, null=True, blank=True)
    payout_rate = models.DecimalField(_("发放率目标"), max_digits=5, decimal_places=4, null=True, blank=True)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("下达人"), on_delete=models.PROTECT, related_name="+"
    )
    set_at = models.DateTimeField(_("下达时间"), auto_now=True)

    class Meta:
        verbose_name = _("目标任务")
        verbose_name_plural = _("目标任务")
        ordering = ["region__code", "year"]
        constraints = [models.UniqueConstraint(fields=["region", "year"], name="one_target_per_region_year")]


class AssessmentEntry(models.Model):
    """An item of the standardisation assessment (示范点评估) that needs an inspector's judgement, scored by hand."""

    SCOPE_FIELD = "region__code"

    region = models.ForeignKey(Region, verbose_name=_("区划"), on_delete=models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField(_("年度"))
    item = models.CharField(_("评估项目"), max_length=40)
    score = models.DecimalField(_("得分"), max_digits=5, decimal_places=1)
    note = models.CharField(_("说明"), max_length=200, blank=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("评估人"), on_delete=models.PROTECT, related_name="+"
    )
    entered_at = models.DateTimeField(_("评估时间"), auto_now=True)

    class Meta:
        verbose_name = _("示范点评估")
        verbose_name_plural = _("示范点评估")
        ordering = ["region__code", "year", "item"]
        constraints = [models.UniqueConstraint(fields=["region", "year", "item"], name="one_assessment_item")]


class FundWarning(models.Model):
    """基金预警: the months of payouts below which a pooling region's fund is flagged, set by its supervisor."""

    pooling_region = models.OneToOneField(PoolingRegion, verbose_name=_("统筹区"), on_delete=models.PROTECT)
    threshold_months = models.DecimalField(_("预警线（可支付月数）"), max_digits=6, decimal_places=1)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("设置人"), on_delete=models.PROTECT, related_name="+"
    )
    set_at = models.DateTimeField(_("设置时间"), auto_now=True)

    class Meta:
        verbose_name = _("基金预警线")
        verbose_name_plural = _("基金预警线")


class ReportSet(models.TextChoices):
    """五套业务报表."""

    ENROLMENT = "enrolment", _("参保情况报表")
    CONTRIBUTIONS = "contributions", _("缴费情况报表")
    BENEFITS = "benefits", _("待遇发放报表")
    FUND = "fund", _("基金收支报表")
    ACCOUNTS = "accounts", _("个人账户报表")


class ReportFile(models.Model):
    """A produced monthly report (.xlsx), kept for later download. Producing it again replaces the file."""

    SCOPE_FIELD = "region_code"

    region_code = models.CharField(_("区划代码"), max_length=12)
    month = models.DateField(_("月份"))
    report_set = models.CharField(_("报表"), max_length=15, choices=ReportSet.choices)
    file = models.FileField(_("文件"), upload_to="reports/%Y/%m/", max_length=200)
    sha256 = models.CharField(max_length=64)
    produced_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("生成人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    produced_at = models.DateTimeField(_("生成时间"), auto_now=True)

    class Meta:
        verbose_name = _("统计报表")
        verbose_name_plural = _("统计报表")
        ordering = ["-month", "region_code", "report_set"]
        constraints = [
            models.UniqueConstraint(fields=["region_code", "month", "report_set"], name="one_report_per_region_month")
        ]
