"""What an uploaded scan really is: PDF, JPEG or PNG by its content (never its name), readable, within the size limit.

The leading bytes say what a file is; Pillow and pypdf then open it, so a truncated photograph or a PDF with a
broken body is refused as unreadable instead of being kept as a copy nobody can open.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import PurePath

from django.conf import settings
from PIL import Image, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from agencies.errors import DomainError

PDF, JPEG, PNG = "application/pdf", "image/jpeg", "image/png"
TYPE_NAMES = {PDF: "PDF", JPEG: "JPEG", PNG: "PNG"}
# What a file's name may claim for each real type.
EXTENSIONS = {PDF: {".pdf"}, JPEG: {".jpg", ".jpeg"}, PNG: {".png"}}
ACCEPT = ".pdf,.jpg,.jpeg,.png"

logger = logging.getLogger(__name__)

_DAMAGED = "PDF文件已损坏，无法打开，请重新扫描上传。"

# Images beyond this many pixels are refused before decoding (a decompression bomb in a photograph).
MAX_PIXELS = 120_000_000


@dataclass(frozen=True)
class Inspected:
    content: bytes
    content_type: str
    size: int
    sha256: str
    pages: int


def sniff(head: bytes) -> str | None:
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    return None


def _pdf_pages(content: bytes) -> int:
    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        if reader.is_encrypted:
            raise DomainError("PDF文件已加密，无法查阅，请上传未加密的扫描件。", code="unreadable", field="file")
        pages = len(reader.pages)
    except DomainError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as error:
        # PyPdfError holds every refusal of pypdf (PdfReadError, ParseError, LimitReachedError for a loop, …).
        logger.info("unreadable PDF: %s", error)
        raise DomainError(_DAMAGED, code="unreadable", field="file") from None
    except Exception:
        # A damaged body can trip pypdf anywhere: whatever it raises, the clerk is told the file is damaged.
        logger.warning("unreadable PDF (unexpected error from pypdf)", exc_info=True)
        raise DomainError(_DAMAGED, code="unreadable", field="file") from None
    if pages < 1:
        raise DomainError("PDF文件没有页面，请重新扫描上传。", code="unreadable", field="file")
    return pages


def _check_image(content: bytes, expected: str) -> None:
    try:
        with Image.open(io.BytesIO(content)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise DomainError("图片像素过大，请压缩后上传。", code="too_large", field="file")
            if Image.MIME.get(image.format or "") != expected:
                raise UnidentifiedImageError(image.format)
            image.load()  # decodes every pixel: a truncated file fails here
    except DomainError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise DomainError("图片文件已损坏，无法打开，请重新拍照或扫描上传。", code="unreadable", field="file") from None


def inspect_upload(upload) -> Inspected:
    """Read an uploaded file (Django ``UploadedFile``) and tell what it is, or refuse it with a clerk's message."""
    if upload is None:
        raise DomainError("请选择要上传的扫描件或照片。", code="required", field="file")
    limit = settings.ARCHIVE_FILE_MAX_BYTES
    if upload.size is not None and upload.size > limit:
        raise DomainError(
            f"文件过大（{upload.size / 1024 / 1024:.1f}MB），最大{limit // (1024 * 1024)}MB，请压缩或分页扫描后上传。",
            code="too_large",
            field="file",
        )
    upload.seek(0)
    content = upload.read(limit + 1)
    if len(content) > limit:
        raise DomainError(f"文件过大，最大{limit // (1024 * 1024)}MB。", code="too_large", field="file")
    if not content:
        raise DomainError("上传的是空文件。", code="empty", field="file")
    real = sniff(content[:16])
    if real is None:
        raise DomainError(
            "文件内容不是PDF、JPEG或PNG，请上传扫描件（PDF）或照片（JPEG、PNG）。", code="wrong_type", field="file"
        )
    claimed = PurePath(upload.name or "").suffix.lower()
    if claimed not in EXTENSIONS[real]:
        raise DomainError(
            f"文件名为“{claimed or '无扩展名'}”，内容却是{TYPE_NAMES[real]}，请核对后重新上传。",
            code="type_mismatch",
            field="file",
        )
    if real == PDF:
        pages = _pdf_pages(content)
    else:
        _check_image(content, real)
        pages = 1
    return Inspected(
        content=content, content_type=real, size=len(content), sha256=hashlib.sha256(content).hexdigest(), pages=pages
    )
