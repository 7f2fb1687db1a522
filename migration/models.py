"""District mergers (并轨): the project and its steps, the place mapping, packages, test-loads with their
findings and staging rows, and the import.

The package layout is ``shared/specs/merger-package.md`` (restated in ``migration/package.py``). A test-load
reads a package into the ``Staged*`` tables (typed columns, NULL where a value could not be read, each row
with its line number), runs the checks over them and keeps the findings; the import reads the staging rows
of the last clean test-load, never the zip again.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from agencies.models import PoolingRegion, Region
from agencies.money import money_field


class Step(models.TextChoices):
    """The steps of a merger, in their order (Changzhou 2016)."""

    SETTLE = "settle", _("源统筹区结算核对")
    FREEZE = "freeze", _("数据封存")
    EXPORT = "export", _("导出数据包")
    TESTLOAD = "testload", _("试导入")
    IMPORT = "import", _("正式导入")
    FUND_TRANSFER = "fund_transfer", _("基金划转")
    CUTOVER = "cutover", _("系统切换")


STEP_ORDER: tuple[str, ...] = tuple(Step.values)


class StepState(models.TextChoices):
    PENDING = "pending", _("未开始")
    RUNNING = "running", _("进行中")
    DONE = "done", _("已完成")
    FAILED = "failed", _("失败")


class MergerProject(models.Model):
    """并轨项目: a source pooling region (or some of its towns) joining a target pooling region."""

    # The place that holds both sides (the city, usually): only a supervisor over both may see the project.
    SCOPE_FIELD = "region_code"

    name = models.CharField(_("项目名称"), max_length=100)
    source_pooling_region = models.ForeignKey(
        PoolingRegion, verbose_name=_("源统筹区"), on_delete=models.PROTECT, related_name="+"
    )
    # 9-digit township prefixes when only some towns move; empty when the whole pooling region does.
    source_towns = models.JSONField(_("并入的乡镇"), default=list, blank=True)
    target_pooling_region = models.ForeignKey(
        PoolingRegion, verbose_name=_("目标统筹区"), on_delete=models.PROTECT, related_name="+"
    )
    region_code = models.CharField(_("区划代码"), max_length=12)
    cutover_date = models.DateField(_("切换日期"), help_text=_("自该日起只在目标统筹区办理业务"))
    # The policy mapping (政策衔接).
    source_tiers_until = models.DateField(
        _("原档次执行至"), help_text=_("并轨前已按原办法选定的缴费档次执行到该日，之后执行目标统筹区档次")
    )
    default_tier = models.DecimalField(
        _("默认档次"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("未选档次的人员按此档次；空表示目标统筹区最低档"),
    )
    fold_pooled = models.BooleanField(_("统筹账户并入个人账户"), default=True)
    deemed_years_until = models.DateField(
        _("视同缴费年限认定截止"), help_text=_("此前认定的视同缴费年限（如军龄）继续计算，此后新参保人员不再认定")
    )
    frozen_at = models.DateTimeField(_("封存时间"), null=True, blank=True)
    interest_settled_through = models.DateField(_("利息结算至"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("创建人"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("并轨项目")
        verbose_name_plural = _("并轨项目")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(source_pooling_region=models.F("target_pooling_region")),
                name="merger_source_is_not_target",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class MergerStep(models.Model):
    """Where one step of a project stands, who did it and when, and its progress while it runs."""

    SCOPE_FIELD = "project__region_code"

    project = models.ForeignKey(MergerProject, on_delete=models.CASCADE, related_name="steps")
    step = models.CharField(_("步骤"), max_length=15, choices=Step.choices)
    state = models.CharField(_("状态"), max_length=10, choices=StepState.choices, default=StepState.PENDING)
    progress_done = models.PositiveBigIntegerField(_("已处理"), default=0)
    progress_total = models.PositiveBigIntegerField(_("总量"), default=0)
    phase = models.CharField(_("当前阶段"), max_length=100, blank=True)
    # What the step found or did, in a sentence for the page (e.g. "导入余额合计与数据包一致：…").
    summary = models.TextField(_("结果说明"), blank=True)
    error = models.TextField(_("失败原因"), blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    # The last time a running step reported progress: a step silent for long was killed and may be resumed.
    heartbeat_at = models.DateTimeField(_("最近进度时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("并轨步骤")
        verbose_name_plural = _("并轨步骤")
        ordering = ["project", "id"]
        constraints = [models.UniqueConstraint(fields=["project", "step"], name="one_row_per_merger_step")]

    def __str__(self) -> str:
        return f"{self.get_step_display()}：{self.get_state_display()}"

    @property
    def percent(self) -> int:
        if not self.progress_total:
            return 100 if self.state == StepState.DONE else 0
        return min(100, int(self.progress_done * 100 / self.progress_total))


class MergerEvent(models.Model):
    """Who moved a step, when, from which state to which, and why."""

    SCOPE_FIELD = "project__region_code"

    project = models.ForeignKey(MergerProject, on_delete=models.CASCADE, related_name="events")
    step = models.CharField(_("步骤"), max_length=15, choices=Step.choices)
    action = models.CharField(_("操作"), max_length=30)
    from_state = models.CharField(_("原状态"), max_length=10, blank=True)
    to_state = models.CharField(_("新状态"), max_length=10)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("操作人"), null=True, blank=True, on_delete=models.PROTECT
    )
    note = models.TextField(_("说明"), blank=True)
    at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("并轨操作记录")
        verbose_name_plural = _("并轨操作记录")
        ordering = ["at", "id"]


class MappingSource(models.TextChoices):
    FILE = "file", _("文件导入")
    CLERK = "clerk", _("逐条确认")


class PlaceMapping(models.Model):
    """A source village or community code and the target village it becomes (区划对照)."""

    SCOPE_FIELD = "project__region_code"

    project = models.ForeignKey(MergerProject, on_delete=models.CASCADE, related_name="place_mappings")
    source_code = models.CharField(_("原区划代码"), max_length=12)
    source_name = models.CharField(_("原名称"), max_length=100, blank=True)
    target = models.ForeignKey(Region, verbose_name=_("新村/社区"), on_delete=models.PROTECT, related_name="+")
    origin = models.CharField(_("来源"), max_length=10, choices=MappingSource.choices)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("确认人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    confirmed_at = models.DateTimeField(_("确认时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("区划对照")
        verbose_name_plural = _("区划对照")
        ordering = ["project", "source_code"]
        constraints = [
            models.UniqueConstraint(fields=["project", "source_code"], name="one_mapping_per_source_code"),
        ]


class PackageOrigin(models.TextChoices):
    EXPORT = "export", _("本系统导出")
    UPLOAD = "upload", _("上传")


class MergerPackage(models.Model):
    """A data package (.zip): exported here from the source, or uploaded from a legacy system."""

    SCOPE_FIELD = "project__region_code"

    project = models.ForeignKey(MergerProject, on_delete=models.PROTECT, related_name="packages")
    origin = models.CharField(_("来源"), max_length=10, choices=PackageOrigin.choices)
    file = models.FileField(_("数据包"), upload_to="merger/%Y/%m/")
    file_name = models.CharField(_("文件名"), max_length=200)
    size = models.PositiveBigIntegerField(_("大小（字节）"), default=0)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    # From manifest.json once a test-load has read it; blank for a package that could not be read.
    package_id = models.CharField(_("数据包编号"), max_length=200, blank=True)
    manifest = models.JSONField(_("清单"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("操作人"), null=True, blank=True, on_delete=models.PROTECT
    )
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("并轨数据包")
        verbose_name_plural = _("并轨数据包")
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["project", "sha256"], name="one_package_per_content")]

    def __str__(self) -> str:
        return self.file_name


class TestLoadStatus(models.TextChoices):
    RUNNING = "running", _("进行中")
    DONE = "done", _("已完成")
    FAILED = "failed", _("中断")


class TestLoad(models.Model):
    """试导入: one reading of a package into staging, and its report."""

    SCOPE_FIELD = "project__region_code"

    project = models.ForeignKey(MergerProject, on_delete=models.PROTECT, related_name="testloads")
    package = models.ForeignKey(MergerPackage, on_delete=models.PROTECT, related_name="testloads")
    status = models.CharField(_("状态"), max_length=10, choices=TestLoadStatus.choices, default=TestLoadStatus.RUNNING)
    # Data lines read per file, e.g. {"persons.csv": 81234}.
    rows = models.JSONField(_("读取行数"), default=dict, blank=True)
    # Findings per kind, e.g. {"orphan_row": 3}.
    counts = models.JSONField(_("问题统计"), default=dict, blank=True)
    blocking_count = models.PositiveIntegerField(_("阻断问题数"), default=0)
    warning_count = models.PositiveIntegerField(_("提示问题数"), default=0)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("操作人"), null=True, blank=True, on_delete=models.PROTECT
    )
    started_at = models.DateTimeField(_("开始时间"), auto_now_add=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    error = models.TextField(_("中断原因"), blank=True)

    class Meta:
        verbose_name = _("试导入")
        verbose_name_plural = _("试导入")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"试导入 #{self.pk}"

    @property
    def clean(self) -> bool:
        return self.status == TestLoadStatus.DONE and self.blocking_count == 0


class Severity(models.TextChoices):
    BLOCKING = "blocking", _("阻断")
    WARNING = "warning", _("提示")


class Finding(models.Model):
    """One problem a test-load found, with its file, line and column (line 1 is the header)."""

    SCOPE_FIELD = "testload__project__region_code"

    testload = models.ForeignKey(TestLoad, on_delete=models.CASCADE, related_name="findings", db_index=False)
    kind = models.CharField(_("问题类型"), max_length=40)
    severity = models.CharField(_("级别"), max_length=10, choices=Severity.choices)
    file = models.CharField(_("文件"), max_length=40, blank=True)
    line = models.PositiveIntegerField(_("行号"), null=True, blank=True)
    column = models.CharField(_("列"), max_length=40, blank=True)
    value = models.CharField(_("值"), max_length=200, blank=True)
    message = models.TextField(_("说明"))

    class Meta:
        verbose_name = _("试导入问题")
        verbose_name_plural = _("试导入问题")
        ordering = ["testload", "id"]
        indexes = [models.Index(fields=["testload", "kind", "id"], name="finding_testload_kind_idx")]


# --- staging ---------------------------------------------------------------------------------------------
# One table per package file; every row carries its test-load and its line in the file (the header is line
# 1). Columns are typed and NULL where the text could not be read (a finding says why). Foreign keys to the
# test-load skip the database constraint: millions of rows are COPYed here and dropped with their test-load.


class StagedRow(models.Model):
    testload = models.ForeignKey(TestLoad, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    line = models.PositiveIntegerField()
    insurance_no = models.CharField(max_length=40, blank=True)

    class Meta:
        abstract = True


class StagedPerson(StagedRow):
    id_number = models.CharField(max_length=40, blank=True)
    name = models.CharField(max_length=100, blank=True)
    gender = models.CharField(max_length=1, blank=True)  # 1 male, 2 female, as in the package
    birth_date = models.DateField(null=True)
    hukou_type = models.CharField(max_length=10, blank=True)
    region_code = models.CharField(max_length=12, blank=True)
    address = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    bank_code = models.CharField(max_length=10, blank=True)
    bank_account = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=15, blank=True)
    enrolled_on = models.DateField(null=True)
    special_groups = models.CharField(max_length=200, blank=True)
    military_years = models.PositiveSmallIntegerField(null=True)
    # Filled by the checks: the target village (from the place mapping) and a person already in the register
    # with the same identity number (re-homed by the import when they belong to the source).
    target_village_id = models.BigIntegerField(null=True)
    target_region_code = models.CharField(max_length=12, blank=True)
    existing_person_id = models.BigIntegerField(null=True)
    # Filled by the import: the person the row became, and the insurance number they carry.
    person_id = models.BigIntegerField(null=True)
    insurance_number = models.CharField(max_length=20, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["testload", "line"], name="staged_person_line_idx"),
            models.Index(fields=["testload", "insurance_no"], name="staged_person_insno_idx"),
            models.Index(fields=["testload", "id_number"], name="staged_person_idno_idx"),
        ]


class StagedAccount(StagedRow):
    personal = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    gov_subsidy = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    collective = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    other_subsidy = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    interest = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    pooled = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    balance = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    last_interest_date = models.DateField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["testload", "insurance_no"], name="staged_account_insno_idx"),
        ]


class StagedContribution(StagedRow):
    year = models.PositiveSmallIntegerField(null=True)
    tier = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    personal = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    gov_subsidy = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    collective = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    other_subsidy = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    paid_on = models.DateField(null=True)
    channel = models.CharField(max_length=20, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["testload", "insurance_no"], name="staged_contrib_insno_idx"),
        ]


class StagedRecipient(StagedRow):
    category = models.CharField(max_length=30, blank=True)
    start_month = models.DateField(null=True)  # the first day of the month
    basic_pension = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    account_pension = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    monthly_total = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    bank_code = models.CharField(max_length=10, blank=True)
    bank_account = models.CharField(max_length=40, blank=True)
    last_paid_month = models.DateField(null=True)  # the first day of the month

    class Meta:
        indexes = [
            models.Index(fields=["testload", "insurance_no"], name="staged_recipient_insno_idx"),
        ]


class StagedTierChoice(StagedRow):
    year = models.PositiveSmallIntegerField(null=True)
    tier = models.DecimalField(max_digits=14, decimal_places=2, null=True)

    class Meta:
        indexes = [
            models.Index(fields=["testload", "insurance_no"], name="staged_tier_insno_idx"),
        ]


# --- the import ------------------------------------------------------------------------------------------


class ImportStatus(models.TextChoices):
    RUNNING = "running", _("进行中")
    DONE = "done", _("已完成")
    FAILED = "failed", _("中断")


class ImportRun(models.Model):
    """正式导入 of one package, at most once (the one-to-one with the package carries it). Killed half way, the
    same run resumes: each chunk of each phase commits with its ``ImportChunk`` row."""

    SCOPE_FIELD = "project__region_code"

    project = models.ForeignKey(MergerProject, on_delete=models.PROTECT, related_name="imports")
    package = models.OneToOneField(MergerPackage, on_delete=models.PROTECT, related_name="import_run")
    testload = models.ForeignKey(TestLoad, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(_("状态"), max_length=10, choices=ImportStatus.choices, default=ImportStatus.RUNNING)
    persons_created = models.PositiveIntegerField(_("新建参保人"), default=0)
    persons_rehomed = models.PositiveIntegerField(_("迁入参保人"), default=0)
    insurance_numbers_reissued = models.PositiveIntegerField(_("重新编号人数"), default=0)
    accounts = models.PositiveIntegerField(_("个人账户"), default=0)
    contributions = models.PositiveIntegerField(_("缴费记录"), default=0)
    awards = models.PositiveIntegerField(_("待遇"), default=0)
    tier_choices = models.PositiveIntegerField(_("档次选择"), default=0)
    balance_expected = money_field(_("数据包账户余额合计"))
    balance_imported = money_field(_("导入后账户余额合计"))
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("操作人"), null=True, blank=True, on_delete=models.PROTECT
    )
    started_at = models.DateTimeField(_("开始时间"), auto_now_add=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    error = models.TextField(_("中断原因"), blank=True)

    class Meta:
        verbose_name = _("正式导入")
        verbose_name_plural = _("正式导入")
        ordering = ["-started_at", "-id"]


class ImportChunk(models.Model):
    """One committed chunk of one phase of an import: a resumed import skips what is here."""

    run = models.ForeignKey(ImportRun, on_delete=models.CASCADE, related_name="chunks")
    phase = models.CharField(max_length=30)
    number = models.PositiveIntegerField()
    rows = models.PositiveIntegerField(default=0)
    done_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "phase", "number"], name="one_row_per_import_chunk"),
        ]


class FundTransferRecord(models.Model):
    """The account balances moved from the source's fiscal special account to the target's (基金划转)."""

    SCOPE_FIELD = "project__region_code"

    project = models.OneToOneField(MergerProject, on_delete=models.PROTECT, related_name="fund_transfer")
    reference = models.CharField(_("划转凭证号"), max_length=64, unique=True)
    amount = money_field(_("划转金额"))
    transferred_on = models.DateField(_("划转日期"))
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("操作人"), on_delete=models.PROTECT)
    at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("基金划转")
        verbose_name_plural = _("基金划转")


class ArchiveSurveyItem(models.Model):
    """档案移交清单: where each kind of the source's records is kept, until the archives app takes them over."""

    SCOPE_FIELD = "project__region_code"

    project = models.ForeignKey(MergerProject, on_delete=models.CASCADE, related_name="archive_survey")
    kind = models.CharField(_("档案类别"), max_length=100)
    region_code = models.CharField(_("区划代码"), max_length=12, blank=True)
    place = models.CharField(_("存放地点"), max_length=200)
    years = models.CharField(_("年度"), max_length=40, blank=True)
    quantity = models.PositiveIntegerField(_("数量（卷/盒）"), default=0)
    note = models.TextField(_("备注"), blank=True)
    handed_over_at = models.DateTimeField(_("移交时间"), null=True, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("登记人"), on_delete=models.PROTECT)
    recorded_at = models.DateTimeField(_("登记时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("档案摸底")
        verbose_name_plural = _("档案摸底")
        ordering = ["project", "region_code", "id"]
