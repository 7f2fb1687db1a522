"""Insured persons and the applications that register, change and cancel them."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from agencies.models import Region


class PersonStatus(models.TextChoices):
    PENDING = "pending", _("登记审核中")
    ACTIVE = "active", _("正常参保")
    CANCELLED = "cancelled", _("已注销")
    VOID = "void", _("登记已撤回")


class Sex(models.TextChoices):
    MALE = "M", _("男")
    FEMALE = "F", _("女")


class InsuredPerson(models.Model):
    SCOPE_FIELD = "region_code"

    id_number = models.CharField(_("身份证号"), max_length=18, unique=True)
    insurance_number = models.CharField(_("保险编号"), max_length=20, unique=True, null=True, blank=True)
    name = models.CharField(_("姓名"), max_length=50)
    name_initials = models.CharField(_("姓名拼音首字母"), max_length=50, db_index=True, editable=False)
    sex = models.CharField(_("性别"), max_length=1, choices=Sex.choices)
    birth_date = models.DateField(_("出生日期"))
    village = models.ForeignKey(Region, verbose_name=_("户籍所在村/社区"), on_delete=models.PROTECT, related_name="+")
    region_code = models.CharField(_("区划代码"), max_length=12, editable=False)
    status = models.CharField(_("参保状态"), max_length=12, choices=PersonStatus.choices, default=PersonStatus.PENDING)
    phone = models.CharField(_("联系电话"), max_length=20, blank=True)
    address = models.CharField(_("住址"), max_length=200, blank=True)
    social_security_card_number = models.CharField(_("社会保障卡号"), max_length=20, blank=True)
    bank_code = models.CharField(_("开户银行代码"), max_length=10, blank=True)
    bank_account = models.CharField(_("银行账号"), max_length=32, blank=True)
    enrolled_on = models.DateField(_("参保日期"), null=True, blank=True)
    cancelled_on = models.DateField(_("注销日期"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("参保人")
        verbose_name_plural = _("参保人")
        ordering = ["region_code", "name", "id"]
        indexes = [
            models.Index(fields=["region_code"], name="person_region_prefix_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["name"], name="person_name_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["village", "name", "birth_date"], name="person_village_name_birth_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.insurance_number or '未编号'}）"


class ApplicationKind(models.TextChoices):
    REGISTER = "register", _("参保登记")
    CHANGE = "change", _("变更登记")
    CANCEL = "cancel", _("注销登记")


class ApplicationStatus(models.TextChoices):
    SUBMITTED = "submitted", _("待乡镇审核")
    ACCEPTED = "accepted", _("待县级审批")
    RETURNED = "returned", _("已退回")
    APPROVED = "approved", _("已批准")
    WITHDRAWN = "withdrawn", _("已撤回")


OPEN_STATUSES = (ApplicationStatus.SUBMITTED, ApplicationStatus.ACCEPTED, ApplicationStatus.RETURNED)


class CancellationReason(models.TextChoices):
    DEATH = "death", _("死亡")
    EMIGRATION = "emigration", _("出国（境）定居并丧失国籍")
    OTHER_PENSION = "other_pension", _("已享受其他基本养老保障待遇")
    TRANSFER_OUT = "transfer_out", _("转出")


class Application(models.Model):
    """参保登记表 / 变更登记表 / 注销登记表 and where it stands in village → township → county."""

    SCOPE_FIELD = "region_code"

    kind = models.CharField(_("业务类型"), max_length=10, choices=ApplicationKind.choices)
    person = models.ForeignKey(
        InsuredPerson, verbose_name=_("参保人"), on_delete=models.PROTECT, related_name="applications"
    )
    region_code = models.CharField(_("区划代码"), max_length=12, editable=False)
    status = models.CharField(
        _("状态"), max_length=10, choices=ApplicationStatus.choices, default=ApplicationStatus.SUBMITTED
    )
    # What the application asks for: the registration form, or {field: new value} for a change.
    changes = models.JSONField(_("申请内容"), default=dict, blank=True)
    reason = models.TextField(_("申请事由"), blank=True)
    cancellation_reason = models.CharField(_("注销原因"), max_length=20, choices=CancellationReason.choices, blank=True)
    event_date = models.DateField(_("事件日期"), null=True, blank=True, help_text=_("死亡、定居国外等事件发生的日期"))
    proof = models.FileField(_("证明材料"), upload_to="proofs/%Y/%m/", blank=True)
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
        verbose_name = _("业务申请")
        verbose_name_plural = _("业务申请")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["region_code"], name="app_region_prefix_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["status", "region_code"], name="app_status_region_idx"),
        ]
        constraints = [
            # One open application per person at a time: a second one would race the first.
            models.UniqueConstraint(
                fields=["person"],
                condition=Q(status__in=["submitted", "accepted", "returned"]),
                name="one_open_application_per_person",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class ApplicationEvent(models.Model):
    """Who moved an application, when, from which state to which, and why."""

    SCOPE_FIELD = "application__region_code"

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(_("操作"), max_length=20)
    from_status = models.CharField(_("原状态"), max_length=10, blank=True)
    to_status = models.CharField(_("新状态"), max_length=10)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("操作人"), on_delete=models.PROTECT)
    note = models.TextField(_("说明"), blank=True)
    at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("申请流转记录")
        verbose_name_plural = _("申请流转记录")
        ordering = ["at", "id"]


class InsuranceNumberCounter(models.Model):
    """The last serial handed out per county. Only ever incremented under a row lock, so never reused."""

    county_code = models.CharField(max_length=6, unique=True)
    last_serial = models.PositiveBigIntegerField(default=0)


class SpecialGroup(models.TextChoices):
    SUBSISTENCE = "dibao", _("低保对象")
    EXTREME_POVERTY = "tekun", _("特困人员")
    SEVERE_DISABILITY = "disability", _("重度残疾人")
    FAMILY_PLANNING = "family_planning", _("计生特扶家庭")
    LAND_EXPROPRIATED = "land_expropriated", _("被征地农民")


CERTIFYING_DEPARTMENTS = {
    SpecialGroup.SUBSISTENCE: "民政部门",
    SpecialGroup.EXTREME_POVERTY: "民政部门",
    SpecialGroup.SEVERE_DISABILITY: "残疾人联合会",
    SpecialGroup.FAMILY_PLANNING: "卫生健康部门",
    SpecialGroup.LAND_EXPROPRIATED: "自然资源部门",
}


class SpecialGroupMembership(models.Model):
    SCOPE_FIELD = "person__region_code"

    person = models.ForeignKey(InsuredPerson, on_delete=models.CASCADE, related_name="special_groups")
    group = models.CharField(_("特殊群体"), max_length=20, choices=SpecialGroup.choices)
    certifying_department = models.CharField(_("认定部门"), max_length=50)
    certificate_number = models.CharField(_("认定文号"), max_length=50, blank=True)
    certified_on = models.DateField(_("认定日期"))
    ends_on = models.DateField(_("终止日期"), null=True, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("登记人"), on_delete=models.PROTECT)
    recorded_at = models.DateTimeField(_("登记时间"), auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("特殊群体认定")
        verbose_name_plural = _("特殊群体认定")
        ordering = ["-certified_on", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["person", "group", "certified_on"], name="one_certification_per_group_and_date"
            ),
        ]


class EmployeeRegisterLoad(models.Model):
    """One upload of the employees' scheme register (职工养老参保名单) for comparison (信息比对)."""

    SCOPE_FIELD = "region_code"

    region_code = models.CharField(_("比对范围"), max_length=12)
    file_name = models.CharField(_("文件名"), max_length=200)
    file_sha256 = models.CharField(_("文件SHA-256"), max_length=64)
    rows_read = models.PositiveIntegerField(_("读取行数"), default=0)
    rows_invalid = models.PositiveIntegerField(_("无效行数"), default=0)
    matches = models.PositiveIntegerField(_("重复参保人数"), default=0)
    loaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("导入人"), on_delete=models.PROTECT)
    loaded_at = models.DateTimeField(_("导入时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("职工养老名单比对")
        verbose_name_plural = _("职工养老名单比对")
        ordering = ["-loaded_at", "-id"]


class DualEnrollmentFlag(models.Model):
    """A person of this scheme also found on the employees' scheme register."""

    SCOPE_FIELD = "person__region_code"

    load = models.ForeignKey(EmployeeRegisterLoad, on_delete=models.CASCADE, related_name="flags")
    person = models.ForeignKey(InsuredPerson, on_delete=models.CASCADE, related_name="dual_enrollment_flags")
    employer = models.CharField(_("职工参保单位"), max_length=200, blank=True)
    resolved_at = models.DateTimeField(_("处理时间"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("处理人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    resolution = models.TextField(_("处理结果"), blank=True)

    class Meta:
        verbose_name = _("重复参保疑点")
        verbose_name_plural = _("重复参保疑点")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["load", "person"], name="one_flag_per_person_and_load")]
