"""Scans are checked by content: real PDF, JPEG and PNG files are taken with their type, pages and digest; files whose
name lies, that are not scans, that are cut short, encrypted, empty or too large are refused before anything is kept.
Attached files go to the archives' own storage under a random name, once per content."""

from __future__ import annotations

import hashlib
import io
import logging
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.utils import timezone
from PIL import Image
from pypdf import PdfReader, PdfWriter
from pypdf.errors import PdfReadError, PyPdfError

from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import Role
from agencies.tests.factories import region_line
from archives import filecheck
from archives.models import ArchiveFile, ArchiveItem, ArchiveKind, archive_storage
from archives.services import file_attach, file_read, item_create

pytestmark = pytest.mark.django_db


# --- files -----------------------------------------------------------------------------------------------


def pdf_bytes(pages: int = 1, password: str | None = None) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)  # A4 in points
    if password:
        writer.encrypt(password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_from_objects(*objects: bytes) -> bytes:
    """A PDF written by hand, object 1 the catalog, with a correct cross-reference table (so that only what the
    objects say can be wrong)."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def image_bytes(format: str, size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    # Noise rather than a flat colour, so that the compressed data is long enough to cut short.
    image = Image.frombytes("RGB", size, bytes((i * 37 + i // 7) % 256 for i in range(size[0] * size[1] * 3)))
    image.save(out, format=format)
    return out.getvalue()


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


class CountingFile(io.BytesIO):
    """A file that remembers how many bytes were read from it."""

    def __init__(self, content: bytes):
        super().__init__(content)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


def refused(file) -> DomainError:
    with pytest.raises(DomainError) as error:
        filecheck.inspect_upload(file)
    return error.value


# --- what a file is ----------------------------------------------------------------------------------------


def test_a_one_page_pdf_is_taken_with_its_pages_and_digest():
    content = pdf_bytes()

    inspected = filecheck.inspect_upload(upload("参保登记表.pdf", content))

    assert inspected.content_type == "application/pdf"
    assert inspected.pages == 1
    assert inspected.size == len(content)
    assert inspected.sha256 == hashlib.sha256(content).hexdigest()
    assert inspected.content == content


def test_a_pdf_counts_its_pages():
    assert filecheck.inspect_upload(upload("花名册.PDF", pdf_bytes(pages=3))).pages == 3


@pytest.mark.parametrize(
    ("name", "format", "content_type"),
    [("照片.jpg", "JPEG", "image/jpeg"), ("照片.jpeg", "JPEG", "image/jpeg"), ("回执.png", "PNG", "image/png")],
)
def test_photographs_are_taken_as_one_page(name, format, content_type):
    content = image_bytes(format)

    inspected = filecheck.inspect_upload(upload(name, content))

    assert (inspected.content_type, inspected.pages, inspected.size) == (content_type, 1, len(content))
    assert inspected.sha256 == hashlib.sha256(content).hexdigest()


def test_a_png_named_pdf_is_refused_as_a_mismatch():
    error = refused(upload("扫描件.pdf", image_bytes("PNG")))

    assert error.code == "type_mismatch"
    assert error.message == "文件名为“.pdf”，内容却是PNG，请核对后重新上传。"


def test_a_pdf_without_an_extension_is_refused_as_a_mismatch():
    assert refused(upload("扫描件", pdf_bytes())).code == "type_mismatch"


def test_a_text_file_named_pdf_is_refused_as_the_wrong_type():
    error = refused(upload("扫描件.pdf", "这不是扫描件，只是一段文字。".encode()))

    assert error.code == "wrong_type"
    assert error.field == "file"


@pytest.mark.parametrize(("name", "format"), [("照片.jpg", "JPEG"), ("回执.png", "PNG")])
def test_a_truncated_photograph_is_refused_as_unreadable(name, format):
    content = image_bytes(format, size=(120, 90))

    error = refused(upload(name, content[: len(content) // 2]))

    assert error.code == "unreadable"
    assert error.message == "图片文件已损坏，无法打开，请重新拍照或扫描上传。"


def test_a_pdf_cut_in_half_is_refused_as_unreadable():
    content = pdf_bytes(pages=4)

    error = refused(upload("花名册.pdf", content[: len(content) // 2]))

    assert error.code == "unreadable"
    assert error.message == "PDF文件已损坏，无法打开，请重新扫描上传。"


def test_a_pdf_whose_object_refers_to_itself_is_refused_as_unreadable():
    # The page tree is a stream whose length is the page tree itself: pypdf detects the loop and gives up with an
    # error that is not a PdfReadError (LimitReachedError).
    content = pdf_from_objects(
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Count 1 /Kids [ 3 0 R ] /Length 2 0 R >>\nstream\nx\nendstream",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [ 0 0 595 842 ] >>",
    )
    with pytest.raises(PyPdfError) as raised:
        len(PdfReader(io.BytesIO(content), strict=False).pages)
    assert not isinstance(raised.value, PdfReadError)

    error = refused(upload("花名册.pdf", content))

    assert (error.code, error.field) == ("unreadable", "file")
    assert error.message == "PDF文件已损坏，无法打开，请重新扫描上传。"


def test_whatever_else_the_pdf_reader_raises_is_refused_as_damaged_and_logged(monkeypatch, caplog):
    def reader_that_trips(*args, **kwargs):
        raise ZeroDivisionError("float division by zero")  # an error of no kind pypdf declares

    monkeypatch.setattr(filecheck, "PdfReader", reader_that_trips)

    with caplog.at_level(logging.WARNING, logger="archives.filecheck"):
        error = refused(upload("花名册.pdf", pdf_bytes()))

    assert (error.code, error.message) == ("unreadable", "PDF文件已损坏，无法打开，请重新扫描上传。")
    assert "unexpected error from pypdf" in caplog.text


def test_an_encrypted_pdf_is_refused():
    error = refused(upload("加密.pdf", pdf_bytes(password="123456")))

    assert error.code == "unreadable"
    assert "已加密" in error.message


def test_an_empty_file_is_refused():
    assert refused(upload("空.pdf", b"")).code == "empty"


def test_no_file_at_all_is_refused():
    assert refused(None).code == "required"


def test_a_file_over_the_limit_is_refused_without_being_read(settings):
    settings.ARCHIVE_FILE_MAX_BYTES = 1024
    content = pdf_bytes() + b"%" * 2048
    counting = CountingFile(content)

    error = refused(UploadedFile(file=counting, name="大.pdf", size=len(content)))

    assert error.code == "too_large"
    assert counting.bytes_read == 0


def test_a_file_larger_than_it_says_is_read_only_past_the_limit(settings):
    # The declared size is the client's word; the content is read no further than one byte past the limit.
    settings.ARCHIVE_FILE_MAX_BYTES = 1024
    counting = CountingFile(pdf_bytes() + b"%" * 100_000)

    error = refused(UploadedFile(file=counting, name="大.pdf", size=100))

    assert error.code == "too_large"
    assert counting.bytes_read == 1025


def test_a_file_exactly_at_the_limit_is_taken(settings):
    content = pdf_bytes()
    settings.ARCHIVE_FILE_MAX_BYTES = len(content)

    assert filecheck.inspect_upload(upload("刚好.pdf", content)).size == len(content)


# --- attaching -------------------------------------------------------------------------------------------------


def test_scans_go_to_the_storage_configured_for_archives(settings):
    # The field's storage is the "archives" one of the settings (the tests point it at a folder of their own).
    field = ArchiveFile._meta.get_field("file")
    configured = field._storage_callable()

    assert field._storage_callable is archive_storage
    assert configured._location == settings.STORAGES["archives"]["OPTIONS"]["location"]
    assert not Path(configured.location).is_relative_to(Path(settings.MEDIA_ROOT))


@pytest.fixture
def archive_root() -> Path:
    """Where the archives' storage keeps this test's files."""
    return Path(ArchiveFile._meta.get_field("file").storage.location)


@pytest.fixture
def line():
    return region_line()


@pytest.fixture
def clerk(line):
    return line.staff(Role.TOWNSHIP_CLERK)


@pytest.fixture
def item(line, clerk) -> ArchiveItem:
    return item_create(
        actor=clerk,
        kind=ArchiveKind.objects.get(code="annual_report"),
        region=line.township,
        year=2020,
        title="2020年度城乡居保统计年报",
    )


def stored_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


def test_a_scan_is_stored_in_the_archives_storage_under_a_random_name(archive_root, settings, item, clerk):
    content = pdf_bytes(pages=2)

    attached = file_attach(actor=clerk, item=item, upload=upload("张三 身份证.pdf", content))

    attached.refresh_from_db()
    assert (attached.original_name, attached.content_type, attached.pages, attached.size) == (
        "张三 身份证.pdf",
        "application/pdf",
        2,
        len(content),
    )
    assert attached.sha256 == hashlib.sha256(content).hexdigest()
    [stored] = stored_files(archive_root)
    assert stored.read_bytes() == content
    assert stored.suffix == ".pdf"
    assert "张三" not in attached.file.name and "身份证" not in attached.file.name
    assert len(stored.stem) == 32  # a uuid4 in hex
    assert not str(stored).startswith(str(settings.MEDIA_ROOT))
    assert stored_files(Path(settings.MEDIA_ROOT)) == []
    with attached.file.open("rb") as opened:
        assert opened.read() == content


def test_the_same_scan_attached_twice_is_one_file(archive_root, item, clerk):
    content = image_bytes("JPEG")

    first = file_attach(actor=clerk, item=item, upload=upload("一.jpg", content))
    again = file_attach(actor=clerk, item=item, upload=upload("重传.jpg", content))

    assert again.pk == first.pk
    assert ArchiveFile.objects.filter(item=item).count() == 1
    assert len(stored_files(archive_root)) == 1


def test_two_scans_of_one_item_are_two_files(archive_root, item, clerk):
    file_attach(actor=clerk, item=item, upload=upload("一.png", image_bytes("PNG")))
    file_attach(actor=clerk, item=item, upload=upload("二.pdf", pdf_bytes()))

    assert sorted(ArchiveFile.objects.filter(item=item).values_list("content_type", flat=True)) == [
        "application/pdf",
        "image/png",
    ]
    assert len(stored_files(archive_root)) == 2


def test_a_refused_file_stores_nothing(archive_root, item, clerk):
    with pytest.raises(DomainError):
        file_attach(actor=clerk, item=item, upload=upload("扫描件.pdf", image_bytes("PNG")))

    assert not ArchiveFile.objects.exists()
    assert stored_files(archive_root) == []
    assert not item.events.filter(action="file_attached").exists()


def test_a_village_agent_attaches_in_the_village_only(archive_root, line, clerk):
    agent = line.staff(Role.VILLAGE_AGENT)
    annual = ArchiveKind.objects.get(code="annual_report")
    own = item_create(actor=clerk, kind=annual, region=line.village, year=2021, title="村年报")
    township = item_create(actor=clerk, kind=annual, region=line.township, year=2021, title="镇年报")

    file_attach(actor=agent, item=own, upload=upload("村.pdf", pdf_bytes()))
    with pytest.raises(DomainError) as error:
        file_attach(actor=agent, item=township, upload=upload("镇.pdf", pdf_bytes()))

    assert error.value.code == "out_of_scope"
    assert list(ArchiveFile.objects.values_list("item", flat=True)) == [own.pk]


def test_an_approver_attaches_nothing(archive_root, line, item):
    with pytest.raises(NotPermitted):
        file_attach(actor=line.staff(Role.COUNTY_APPROVER), item=item, upload=upload("扫描件.pdf", pdf_bytes()))

    assert stored_files(archive_root) == []


def test_a_scan_of_an_item_destroyed_meanwhile_is_refused_and_its_content_removed(archive_root, item, clerk):
    # given the page was opened before the approver destroyed the item: the clerk's copy of it still looks kept
    ArchiveItem.objects.filter(pk=item.pk).update(destroyed_at=timezone.now())
    assert item.destroyed_at is None

    with pytest.raises(Conflict) as refusal:
        file_attach(actor=clerk, item=item, upload=upload("迟到的扫描件.pdf", pdf_bytes()))

    # then nothing is attached, and the content stored before the row is gone again
    assert refusal.value.code == "destroyed"
    assert not ArchiveFile.objects.exists()
    assert stored_files(archive_root) == []
    assert not item.events.filter(action="file_attached").exists()


def test_a_scan_of_a_destroyed_item_is_not_read_even_if_its_row_was_not_marked(archive_root, item, clerk):
    attached = file_attach(actor=clerk, item=item, upload=upload("扫描件.pdf", pdf_bytes()))
    ArchiveItem.objects.filter(pk=item.pk).update(destroyed_at=timezone.now())
    attached = ArchiveFile.objects.select_related("item").get(pk=attached.pk)
    assert attached.deleted_at is None

    with pytest.raises(Conflict) as refusal:
        file_read(actor=clerk, archive_file=attached)

    assert refusal.value.message == "该电子文件已随档案销毁。"
    assert not item.events.filter(action="file_read").exists()
