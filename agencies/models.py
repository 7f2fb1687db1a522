"""The region tree, pooling regions, agencies and staff.

Places carry the 12-digit statistical division code: 6 digits of county (GB/T 2260), 3 of township,
3 of village. A record's jurisdiction is decided by the prefix of its code, see ``agencies.scope``.
"""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class RegionLevel(models.TextChoices):
    PROVINCE = "province", _("省")
    CITY = "city", _("市")
    COUNTY = "county", _("县/区")
    TOWNSHIP = "township", _("乡镇/街道")
    VILLAGE = "village", _("村/社区")


# How many leading digits of the 12-digit code identify a place of each level.
PREFIX_LENGTH = {
    RegionLevel.PROVINCE: 2,
    RegionLevel.CITY: 4,
    RegionLevel.COUNTY: 6,
    RegionLevel.TOWNSHIP: 9,
    RegionLevel.VILLAGE: 12,
}


class PoolingRegion(models.Model):
    """统筹区: the unit that owns a fund and its policy (a city's own districts, or a county)."""

    code = models.CharField(_("统筹区编码"), max_length=12, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    # When the scheme started here (地方实施之日): back payment and the basic-pension-only rule count from it.
    scheme_started_on = models.DateField(_("本地实施日期"), null=True, blank=True)
    # Set by a district merger's cut-over: from this day the region takes no new business; its history stays.
    closed_on = models.DateField(_("停止办理业务日期"), null=True, blank=True)
    merged_into = models.ForeignKey(
        "self", verbose_name=_("并入统筹区"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("统筹区")
        verbose_name_plural = _("统筹区")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Region(models.Model):
    # The code itself is the jurisdiction: a place is in scope when its code starts with the caller's prefix.
    SCOPE_FIELD = "code"

    code = models.CharField(_("区划代码"), max_length=12, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    level = models.CharField(_("级别"), max_length=10, choices=RegionLevel.choices)
    parent = models.ForeignKey(
        "self", verbose_name=_("上级"), null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    # Set on the county (or on a township an adjustment moved); places below inherit it.
    pooling_region = models.ForeignKey(
        PoolingRegion,
        verbose_name=_("统筹区"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="regions",
    )
    # Residents who should be insured (for coverage figures); kept on villages.
    registered_population = models.PositiveIntegerField(_("应参保人数"), default=0)

    class Meta:
        verbose_name = _("行政区划")
        verbose_name_plural = _("行政区划")
        ordering = ["code"]
        indexes = [
            models.Index(fields=["code"], name="region_code_prefix_idx", opclasses=["varchar_pattern_ops"]),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def scope_prefix(self) -> str:
        return self.code[: PREFIX_LENGTH[RegionLevel(self.level)]]

    def effective_pooling_region(self) -> PoolingRegion | None:
        region: Region | None = self
        while region is not None:
            if region.pooling_region_id:
                return region.pooling_region
            region = region.parent
        return None

    def full_name(self) -> str:
        names = []
        region: Region | None = self
        while region is not None and region.level != RegionLevel.PROVINCE:
            names.append(region.name)
            region = region.parent
        return "".join(reversed(names))


class Agency(models.Model):
    """经办机构 at county level, 社保所 at township level, 代办点 at village level, 市局 at city level."""

    name = models.CharField(_("名称"), max_length=100)
    region = models.ForeignKey(Region, verbose_name=_("所在区划"), on_delete=models.PROTECT, related_name="agencies")

    class Meta:
        verbose_name = _("经办机构")
        verbose_name_plural = _("经办机构")
        ordering = ["region__code"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    VILLAGE_AGENT = "village_agent", _("村协理员")
    TOWNSHIP_CLERK = "township_clerk", _("乡镇经办员")
    COUNTY_CLERK = "county_clerk", _("县级经办员")
    COUNTY_APPROVER = "county_approver", _("县级审批员")
    COUNTY_FUND_OFFICER = "county_fund_officer", _("县级基金管理员")
    CITY_SUPERVISOR = "city_supervisor", _("市级监管员")
    ADMINISTRATOR = "administrator", _("系统管理员")


class User(AbstractUser):
    """A member of staff. Their jurisdiction is the region of their agency."""

    agency = models.ForeignKey(
        Agency, verbose_name=_("所属机构"), null=True, blank=True, on_delete=models.PROTECT, related_name="staff"
    )
    role = models.CharField(_("角色"), max_length=30, choices=Role.choices, blank=True)
    history = HistoricalRecords(excluded_fields=["password", "last_login"])

    class Meta:
        verbose_name = _("工作人员")
        verbose_name_plural = _("工作人员")

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        # Chinese order: family name first, no space.
        return f"{self.last_name}{self.first_name}" or self.username


class RegionFreeze(models.Model):
    """数据封存: while a district merger moves a place, its records are read-only everywhere.

    Enforced by the database (``agencies.freeze``): every write to a row whose region code starts with a
    live freeze's prefix is refused, whatever path it comes by (a form, the API, a bank file, raw SQL).
    """

    SCOPE_FIELD = "prefix"

    prefix = models.CharField(_("区划代码前缀"), max_length=12)
    # What the refusal names, e.g. "新北区并入常州市本级（并轨项目 #3）".
    label = models.CharField(_("封存原因"), max_length=200)
    # Who froze it, e.g. "merger:3": lifting finds its freezes by this.
    reference = models.CharField(_("来源"), max_length=64)
    frozen_at = models.DateTimeField(_("封存时间"), auto_now_add=True)
    lifted_at = models.DateTimeField(_("解除时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("数据封存")
        verbose_name_plural = _("数据封存")
        ordering = ["prefix", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["prefix", "reference"], condition=models.Q(lifted_at__isnull=True), name="one_live_freeze"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prefix} {self.label}"
