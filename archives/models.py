"""档案: the paper trail. Every form and document the portal produces or receives is an ``ArchiveItem`` of its
kind, filed under its place and year, with its electronic copies (``ArchiveFile``), the place its paper is kept
(``ArchiveLocation`` and a position), who keeps it, who read or borrowed it (``Loan``), hand-overs between
keepers (``HandOver``) and the decisions taken when its retention ends (``RetentionReview``).

Other apps never write these tables: they file through ``agencies.records.file_record`` (see ``archives.services``).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.files.storage import storages
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Retention(models.IntegerChoices):
    """保管期限 in years; 0 is permanent (永久)."""

    PERMANENT = 0, _("永久")
    YEARS_100 = 100, _("100年")
    YEARS_30 = 30, _("30年")
    YEARS_10 = 10, _("10年")


class ArchiveKind(models.Model):
    """A kind of record (参保登记表, 待遇申请表, 月度发放花名册, …) and how long it is kept.

    Kinds are the same everywhere; the standard set is loaded by a data migration and can be extended in the admin.
    """

    code = models.CharField(_("编码"), max_length=30, unique=True)
    # The class number in an archive number (档号), two digits.
    number = models.CharField(_("类别号"), max_length=2, unique=True)
    name = models.CharField(_("名称"), max_length=60)
    retention = models.PositiveSmallIntegerField(_("保管期限"), choices=Retention.choices)
    description = models.CharField(_("说明"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("档案类别")
        verbose_name_plural = _("档案类别")
        ordering = ["number"]

    def __str__(self) -> str:
        return self.name


class ArchiveLocation(models.Model):
    """A box in a cabinet in an archive room, numbered as the keeping agency decides (e.g. 一号库房 / A03 / 2026-015)."""

    SCOPE_FIELD = "region_code"

    # The region of the agency that keeps the room (a county or a township).
    region_code = models.CharField(_("区划代码"), max_length=12)
    room = models.CharField(_("档案室"), max_length=40)
    cabinet = models.CharField(_("档案柜"), max_length=40)
    box = models.CharField(_("档案盒"), max_length=40)

    class Meta:
        verbose_name = _("存放位置")
        verbose_name_plural = _("存放位置")
        ordering = ["region_code", "room", "cabinet", "box"]
        constraints = [
            models.UniqueConstraint(fields=["region_code", "room", "cabinet", "box"], name="archive_location_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.room} {self.cabinet}柜 {self.box}盒"


class ArchiveItem(models.Model):
    """One record: a form, a roll, a receipt, a package. Filed under a place (village, or county for county-level
    papers) and a year; its paper has a place and a keeper once it reaches the archive room."""

    SCOPE_FIELD = "region_code"

    # 档号: <township or county code, 9 digits>-<year>-<class number>-<sequence>, e.g. 320412101-2026-01-000012.
    archive_no = models.CharField(_("档号"), max_length=40, unique=True)
    kind = models.ForeignKey(ArchiveKind, verbose_name=_("档案类别"), on_delete=models.PROTECT, related_name="items")
    region_code = models.CharField(_("区划代码"), max_length=12)
    year = models.PositiveSmallIntegerField(_("年度"))
    title = models.CharField(_("题名"), max_length=200)
    person = models.ForeignKey(
        "enrollment.InsuredPerson",
        verbose_name=_("参保人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="archive_items",
    )
    # The application, batch or package this paper records.
    source_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.PROTECT)
    source_id = models.PositiveBigIntegerField(null=True, blank=True)
    source = GenericForeignKey("source_type", "source_id")
    # The form's fields, label → text, and the same flattened into one string for full-text search.
    fields = models.JSONField(_("表单内容"), default=dict, blank=True)
    search_text = models.TextField(editable=False, blank=True)
    filed_at = models.DateTimeField(_("归档时间"), default=timezone.now)
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("归档人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # The paper: where it is and who keeps it (empty until it reaches the archive room).
    location = models.ForeignKey(
        ArchiveLocation,
        verbose_name=_("存放位置"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="items",
    )
    position = models.CharField(_("盒内序号"), max_length=20, blank=True)
    paper_received_at = models.DateTimeField(_("纸质件入库时间"), null=True, blank=True)
    keeper = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("保管人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="archive_custody",
    )
    # The end of its retention (31 December of the last year kept); empty for permanent records.
    retain_until = models.DateField(_("保管期满日"), null=True, blank=True)
    destroyed_at = models.DateTimeField(_("销毁时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("档案")
        verbose_name_plural = _("档案")
        ordering = ["region_code", "year", "archive_no"]
        constraints = [
            # Filing is idempotent: one item per kind and source record.
            models.UniqueConstraint(
                fields=["kind", "source_type", "source_id"],
                condition=models.Q(source_id__isnull=False),
                name="archive_item_one_per_source",
            ),
            # A position holds one paper; a destroyed paper frees its position.
            models.UniqueConstraint(
                fields=["location", "position"],
                condition=models.Q(location__isnull=False, destroyed_at__isnull=True),
                name="archive_item_position_free",
            ),
        ]
        indexes = [
            models.Index(fields=["region_code", "year"], name="archive_item_region_year"),
            models.Index(fields=["region_code"], name="archive_item_region_prefix", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["keeper"], name="archive_item_keeper", condition=models.Q(destroyed_at__isnull=True)),
            models.Index(fields=["retain_until"], name="archive_item_retain_until"),
        ]

    def __str__(self) -> str:
        return f"{self.archive_no} {self.title}"

    @property
    def has_paper(self) -> bool:
        return self.paper_received_at is not None and self.destroyed_at is None


class ArchiveNumberCounter(models.Model):
    """The last sequence used under an archive-number prefix (township-year-class); locked when a number is taken."""

    prefix = models.CharField(max_length=30, unique=True)
    last = models.PositiveIntegerField(default=0)


def archive_storage():
    # A storage of its own (settings.STORAGES["archives"]): never served under a public URL, and switchable to
    # object storage by configuration alone.
    return storages["archives"]


def archive_file_path(instance: ArchiveFile, filename: str) -> str:
    # A random name: the stored path tells nothing and cannot be guessed.
    extension = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}.get(instance.content_type, "")
    return f"{timezone.localdate():%Y/%m}/{uuid.uuid4().hex}{extension}"


class ArchiveFile(models.Model):
    """An electronic copy (scan or photograph) of an item's paper. The type is checked by content, not by name."""

    SCOPE_FIELD = "item__region_code"

    item = models.ForeignKey(ArchiveItem, verbose_name=_("档案"), on_delete=models.PROTECT, related_name="files")
    file = models.FileField(_("文件"), storage=archive_storage, upload_to=archive_file_path, max_length=200)
    original_name = models.CharField(_("原文件名"), max_length=200)
    content_type = models.CharField(_("文件类型"), max_length=40)
    size = models.PositiveBigIntegerField(_("大小（字节）"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    pages = models.PositiveIntegerField(_("页数"), default=1)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("上传人"), on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(_("上传时间"), auto_now_add=True)
    # Set when the item is destroyed: the stored content is deleted, the row (and its digest) stays as the record.
    deleted_at = models.DateTimeField(_("删除时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("电子文件")
        verbose_name_plural = _("电子文件")
        ordering = ["item", "id"]
        constraints = [
            # The same scan attached twice (a retried upload) is one file.
            models.UniqueConstraint(fields=["item", "sha256"], name="archive_file_once_per_item"),
        ]

    def __str__(self) -> str:
        return self.original_name


class LoanKind(models.TextChoices):
    READ = "read", _("查阅")
    BORROW = "borrow", _("借阅")


class Loan(models.Model):
    """查阅/借阅: who asked for an item, why, when it went out and when it came back."""

    SCOPE_FIELD = "item__region_code"

    item = models.ForeignKey(ArchiveItem, verbose_name=_("档案"), on_delete=models.PROTECT, related_name="loans")
    kind = models.CharField(_("方式"), max_length=10, choices=LoanKind.choices)
    borrower = models.CharField(_("借阅人"), max_length=60)
    borrower_unit = models.CharField(_("单位"), max_length=100, blank=True)
    purpose = models.CharField(_("事由"), max_length=200)
    # The insured person reading their own records (本人查阅).
    own_record = models.BooleanField(_("本人查阅"), default=False)
    out_at = models.DateTimeField(_("借出时间"), default=timezone.now)
    due_on = models.DateField(_("应还日期"))
    lent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("经办人"), on_delete=models.PROTECT, related_name="+"
    )
    returned_at = models.DateTimeField(_("归还时间"), null=True, blank=True)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("接收人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    return_note = models.CharField(_("归还情况"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("查阅借阅")
        verbose_name_plural = _("查阅借阅")
        ordering = ["-out_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["item"], condition=models.Q(returned_at__isnull=True), name="one_open_loan"
            ),
        ]
        indexes = [
            models.Index(fields=["due_on"], name="loan_open_due", condition=models.Q(returned_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.item.archive_no} {self.borrower}"


class HandOverStatus(models.TextChoices):
    OPEN = "open", _("清点中")
    SIGNED_BY_OUTGOING = "signed_out", _("移交人已签字")
    DONE = "done", _("已完成")
    CANCELLED = "cancelled", _("已取消")


class HandOver(models.Model):
    """交接: when a keeper changes, the inventory of everything in their custody, checked and signed by both."""

    SCOPE_FIELD = "region_code"

    region_code = models.CharField(_("区划代码"), max_length=12)
    from_keeper = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("移交人"), on_delete=models.PROTECT, related_name="handovers_out"
    )
    to_keeper = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("接收人"), on_delete=models.PROTECT, related_name="handovers_in"
    )
    status = models.CharField(_("状态"), max_length=12, choices=HandOverStatus.choices, default=HandOverStatus.OPEN)
    note = models.CharField(_("说明"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("发起人"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("发起时间"), auto_now_add=True)
    from_signed_at = models.DateTimeField(_("移交人签字时间"), null=True, blank=True)
    to_signed_at = models.DateTimeField(_("接收人签字时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("档案交接")
        verbose_name_plural = _("档案交接")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["from_keeper"],
                condition=models.Q(status__in=["open", "signed_out"]),
                name="one_open_handover_per_keeper",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.from_keeper} → {self.to_keeper}"


class LineState(models.TextChoices):
    PENDING = "pending", _("未清点")
    PRESENT = "present", _("在库")
    ON_LOAN = "on_loan", _("借出在外")
    MISSING = "missing", _("缺失")


class HandOverLine(models.Model):
    SCOPE_FIELD = "handover__region_code"

    handover = models.ForeignKey(HandOver, on_delete=models.CASCADE, related_name="lines")
    item = models.ForeignKey(ArchiveItem, verbose_name=_("档案"), on_delete=models.PROTECT, related_name="+")
    state = models.CharField(_("清点结果"), max_length=10, choices=LineState.choices, default=LineState.PENDING)
    # The open loan when the inventory was made: an item out on loan is accounted for by its loan.
    loan = models.ForeignKey(Loan, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    note = models.CharField(_("备注"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("交接清单")
        verbose_name_plural = _("交接清单")
        ordering = ["handover", "id"]
        constraints = [models.UniqueConstraint(fields=["handover", "item"], name="handover_line_once")]


class ReviewStatus(models.TextChoices):
    PROPOSED = "proposed", _("待审批")
    DESTROY = "destroy", _("批准销毁")
    EXTEND = "extend", _("延长保管")


class RetentionReview(models.Model):
    """A kept item whose retention has ended, proposed for destruction and decided by an approver."""

    SCOPE_FIELD = "item__region_code"

    item = models.ForeignKey(ArchiveItem, verbose_name=_("档案"), on_delete=models.PROTECT, related_name="reviews")
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("鉴定人"), on_delete=models.PROTECT, related_name="+"
    )
    proposed_at = models.DateTimeField(_("鉴定时间"), auto_now_add=True)
    reason = models.CharField(_("鉴定意见"), max_length=200)
    status = models.CharField(_("状态"), max_length=10, choices=ReviewStatus.choices, default=ReviewStatus.PROPOSED)
    extend_years = models.PositiveSmallIntegerField(_("延长年限"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("审批人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("审批时间"), null=True, blank=True)
    decision_note = models.CharField(_("审批意见"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("到期鉴定")
        verbose_name_plural = _("到期鉴定")
        ordering = ["-proposed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["item"], condition=models.Q(status="proposed"), name="one_open_review_per_item"
            ),
        ]


class ArchiveEvent(models.Model):
    """Who did what to which item, and when: filed, attached, placed, read, lent, returned, handed over, destroyed."""

    SCOPE_FIELD = "region_code"

    region_code = models.CharField(max_length=12)
    item = models.ForeignKey(ArchiveItem, null=True, blank=True, on_delete=models.PROTECT, related_name="events")
    action = models.CharField(_("操作"), max_length=30)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(_("时间"), auto_now_add=True)
    note = models.CharField(_("说明"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("档案操作记录")
        verbose_name_plural = _("档案操作记录")
        ordering = ["-at", "-id"]
