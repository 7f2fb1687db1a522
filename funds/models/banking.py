"""Partner banks, their API credentials, and the batch files exchanged with them (``../shared/specs/bank-batch-file.md``).

Exactly-once settlement rests on unique keys: a batch number for ever; one receipt per batch and file SHA-256;
one issued line and one result line per batch (receipt) and seq. A batch is settled by at most one receipt.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from agencies.models import PoolingRegion
from agencies.money import money_field


class FileEncoding(models.TextChoices):
    UTF8 = "utf-8", "UTF-8"
    GBK = "gbk", "GBK"


class BankPartner(models.Model):
    """金融合作机构: a bank that deducts contributions and pays pensions for the pooling regions it serves."""

    code = models.CharField(_("银行代码"), max_length=10, unique=True)
    name = models.CharField(_("银行名称"), max_length=100)
    pooling_regions = models.ManyToManyField(
        PoolingRegion, verbose_name=_("服务的统筹区"), related_name="bank_partners"
    )
    encoding = models.CharField(_("文件编码"), max_length=5, choices=FileEncoding.choices, default=FileEncoding.UTF8)
    active = models.BooleanField(_("合作中"), default=True)
    created_at = models.DateTimeField(_("登记时间"), auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("合作银行")
        verbose_name_plural = _("合作银行")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"


class BankCredential(models.Model):
    """An API key of one bank: ``<prefix>.<secret>``. Only the secret's SHA-256 is kept; the key is shown once.

    The secret is 256 random bits, so a plain SHA-256 is as strong as a slow password hash here and keeps
    every API call cheap.
    """

    partner = models.ForeignKey(
        BankPartner, verbose_name=_("合作银行"), on_delete=models.PROTECT, related_name="credentials"
    )
    prefix = models.CharField(_("密钥编号"), max_length=16, unique=True)
    secret_sha256 = models.CharField(max_length=64)
    label = models.CharField(_("用途说明"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("签发时间"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("签发人"), on_delete=models.PROTECT, related_name="+"
    )
    # A rotated key keeps working until then, so the bank can switch without a gap.
    expires_at = models.DateTimeField(_("失效时间"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("吊销时间"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("吊销人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True)

    class Meta:
        verbose_name = _("银行接口密钥")
        verbose_name_plural = _("银行接口密钥")
        ordering = ["partner", "-created_at"]

    def __str__(self) -> str:
        return f"{self.partner.code} {self.prefix}"

    # DRF's request.auth and throttles ask these of the credential a request carries.
    @property
    def is_authenticated(self) -> bool:
        return True


class CredentialUse(models.Model):
    """Every call made with a bank credential: who, when, what, and the answer's status."""

    credential = models.ForeignKey(BankCredential, on_delete=models.PROTECT, related_name="uses", db_index=False)
    at = models.DateTimeField(_("时间"), auto_now_add=True)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=200)
    status_code = models.PositiveSmallIntegerField(null=True)
    remote_addr = models.CharField(max_length=45, blank=True)

    class Meta:
        verbose_name = _("接口调用记录")
        verbose_name_plural = _("接口调用记录")
        indexes = [models.Index(fields=["credential", "at"], name="credential_use_idx")]


class BatchKind(models.TextChoices):
    DEDUCT = "DEDUCT", _("代扣")
    PAYOUT = "PAYOUT", _("代发")


class BatchStatus(models.TextChoices):
    ISSUED = "issued", _("已下发")
    SETTLING = "settling", _("回盘处理中")
    SETTLED = "settled", _("已结算")


class BankBatch(models.Model):
    """One file issued to one bank in one pooling region; its lines are ``BankBatchLine``."""

    batch_no = models.CharField(_("批次号"), max_length=24, unique=True)
    kind = models.CharField(_("类型"), max_length=6, choices=BatchKind.choices)
    partner = models.ForeignKey(
        BankPartner, verbose_name=_("合作银行"), on_delete=models.PROTECT, related_name="batches"
    )
    pooling_region = models.ForeignKey(PoolingRegion, verbose_name=_("统筹区"), on_delete=models.PROTECT)
    issued_on = models.DateField(_("下发日期"))
    # "YYYY" for a DEDUCT, "YYYYMM" for a PAYOUT.
    period = models.CharField(_("期间"), max_length=6)
    # The payroll run a PAYOUT batch pays (an id only: benefits sits above funds).
    source_id = models.PositiveIntegerField(_("来源编号"), null=True, blank=True)
    record_count = models.PositiveIntegerField(_("笔数"))
    total_amount = money_field(_("金额合计"))
    file_sha256 = models.CharField(_("文件SHA-256"), max_length=64)
    status = models.CharField(_("状态"), max_length=10, choices=BatchStatus.choices, default=BatchStatus.ISSUED)
    ok_count = models.PositiveIntegerField(_("成功笔数"), default=0)
    ok_amount = money_field(_("成功金额"))
    failed_count = models.PositiveIntegerField(_("失败笔数"), default=0)
    failed_amount = money_field(_("失败金额"))
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("下发人"), on_delete=models.PROTECT, related_name="+"
    )
    issued_at = models.DateTimeField(_("下发时间"), auto_now_add=True)
    settled_at = models.DateTimeField(_("结算时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("银行批次")
        verbose_name_plural = _("银行批次")
        ordering = ["-issued_at", "-id"]
        indexes = [models.Index(fields=["partner", "status", "-issued_at"], name="batch_partner_status_idx")]

    def __str__(self) -> str:
        return self.batch_no


class BankBatchLine(models.Model):
    """One issued D line, as written in the file. Never changed: the outcome is in the result line."""

    SCOPE_FIELD = "region_code"

    batch = models.ForeignKey(BankBatch, on_delete=models.PROTECT, related_name="lines", db_index=False)
    seq = models.PositiveIntegerField(_("序号"))
    person = models.ForeignKey("enrollment.InsuredPerson", on_delete=models.PROTECT, related_name="+", db_index=False)
    # What the line pays for: the award of a PAYOUT line (an id only, benefits sits above funds).
    source_id = models.PositiveIntegerField(null=True, blank=True)
    region_code = models.CharField(_("区划代码"), max_length=12)
    insurance_no = models.CharField(_("保险编号"), max_length=20)
    id_number = models.CharField(_("身份证号"), max_length=18)
    name = models.CharField(_("姓名"), max_length=50)
    bank_account = models.CharField(_("银行账号"), max_length=32)
    amount = money_field(_("金额"))
    period = models.CharField(_("期间"), max_length=6)

    class Meta:
        verbose_name = _("批次明细")
        verbose_name_plural = _("批次明细")
        ordering = ["batch", "seq"]
        constraints = [models.UniqueConstraint(fields=["batch", "seq"], name="one_line_per_batch_seq")]
        indexes = [models.Index(fields=["person"], name="batchline_person_idx")]


class ReceiptStatus(models.TextChoices):
    PROCESSING = "processing", _("处理中")
    SETTLED = "settled", _("已结算")
    REJECTED = "rejected", _("已拒收")


class ResultReceipt(models.Model):
    """A result file the bank posted: accepted (then processing, then settled) or rejected with every error."""

    batch = models.ForeignKey(BankBatch, verbose_name=_("批次"), on_delete=models.PROTECT, related_name="receipts")
    sha256 = models.CharField(_("文件SHA-256"), max_length=64)
    idempotency_key = models.CharField(_("幂等键"), max_length=100, blank=True)
    size_bytes = models.PositiveBigIntegerField(_("文件大小"), default=0)
    status = models.CharField(_("状态"), max_length=10, choices=ReceiptStatus.choices)
    errors = models.JSONField(_("错误清单"), default=list, blank=True)
    error_count = models.PositiveIntegerField(_("错误数"), default=0)
    processed_on = models.DateField(_("银行处理日期"), null=True, blank=True)
    ok_count = models.PositiveIntegerField(_("成功笔数"), default=0)
    ok_amount = money_field(_("成功金额"))
    failed_count = models.PositiveIntegerField(_("失败笔数"), default=0)
    failed_amount = money_field(_("失败金额"))
    # Settlement goes by chunks of seq, each recorded as a ``ResultChunk`` in its own transaction; the size is
    # fixed when the file is accepted so that a re-run cuts the same chunks. Progress: lines settled so far.
    chunk_size = models.PositiveIntegerField(default=50_000)
    lines_done = models.PositiveIntegerField(_("已结算笔数"), default=0)
    # Success lines that could not be posted (the person was cancelled, or had paid at a counter meanwhile).
    exception_count = models.PositiveIntegerField(_("需退款笔数"), default=0)
    received_at = models.DateTimeField(_("接收时间"), auto_now_add=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    credential = models.ForeignKey(BankCredential, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("回盘文件")
        verbose_name_plural = _("回盘文件")
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "sha256"], name="one_receipt_per_batch_file"),
            # At most one accepted file per batch, whatever the code above does.
            models.UniqueConstraint(
                fields=["batch"], condition=~Q(status="rejected"), name="one_accepted_receipt_per_batch"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.batch.batch_no} {self.sha256[:12]}"


class ResultChunk(models.Model):
    """One settled chunk of a receipt's lines (seq in (number × chunk_size, (number + 1) × chunk_size]).

    Inserted first in the chunk's transaction: a second run reaching the same chunk waits for the first to
    commit and then passes it by, so chunks settle exactly once however many workers run.
    """

    receipt = models.ForeignKey(ResultReceipt, on_delete=models.PROTECT, related_name="chunks", db_index=False)
    number = models.PositiveIntegerField()
    exceptions = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["receipt", "number"], name="one_chunk_per_receipt_number")]


class ResultCode(models.TextChoices):
    DONE = "0000", _("成功")
    INSUFFICIENT_FUNDS = "1001", _("余额不足")
    ACCOUNT_CLOSED = "1002", _("账户已销户")
    NAME_MISMATCH = "1003", _("户名与账号不符")
    ACCOUNT_FROZEN = "1004", _("账户冻结")
    OTHER = "9999", _("其他失败")


class ResultLine(models.Model):
    """The bank's answer for one issued line, from the accepted result file (the repeated fields matched)."""

    # No database constraint: a million lines of a file are written by one INSERT in the transaction that
    # creates their receipt (funds.batches), and a receipt is never deleted; a per-row check cost seconds.
    receipt = models.ForeignKey(
        ResultReceipt, on_delete=models.PROTECT, related_name="lines", db_index=False, db_constraint=False
    )
    seq = models.PositiveIntegerField(_("序号"))
    line_no = models.PositiveIntegerField(_("文件行号"))
    result_code = models.CharField(_("处理结果"), max_length=4, choices=ResultCode.choices)
    result_message = models.CharField(_("结果说明"), max_length=200, blank=True)
    bank_txn_id = models.CharField(_("银行流水号"), max_length=64, blank=True)
    # Set only for a success line the portal could not post (money to give back), or a failure re-issued.
    follow_up = models.CharField(_("后续处理"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("回盘明细")
        verbose_name_plural = _("回盘明细")
        ordering = ["receipt", "seq"]
        constraints = [models.UniqueConstraint(fields=["receipt", "seq"], name="one_result_per_receipt_seq")]
