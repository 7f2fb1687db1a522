"""Writing a merger data package (并轨数据包), ``shared/specs/merger-package.md``.

One ``.zip`` (deflated) holding ``persons.csv``, ``accounts.csv``, ``contributions.csv``, ``recipients.csv``,
optionally ``tier_choices.csv``, and ``manifest.json`` written last. Each CSV is RFC 4180 (``csv.writer``), CRLF
line ends, its header the columns of ``migration.layout.COLUMNS``, in the package's encoding (``utf-8`` or
``gbk``). While a file streams into the zip its data rows are counted and its bytes, as stored after encoding,
hashed with SHA-256; the manifest carries both per file. Rows are encoded and written a chunk at a time, so a
file of millions of rows never sits in memory whole. The reader is ``migration.reader``.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import itertools
import json
import zipfile
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import IO

from agencies.errors import DomainError
from agencies.money import FEN
from migration.layout import COLUMNS, DATA_FILES, ENCODINGS, FORMAT, MANIFEST

# Rows encoded and written to the zip at once: large enough that the per-chunk cost vanishes, small enough
# that a chunk is a few MB.
CHUNK_ROWS = 20_000


def format_money(value: Decimal) -> str:
    """Yuan with exactly two places: Decimal("300") → "300.00". A float is refused."""
    if not isinstance(value, Decimal):
        raise TypeError("money must be a Decimal")
    return str(value.quantize(FEN))


def format_date(value: dt.date | None) -> str:
    """``YYYY-MM-DD``; empty for no date."""
    return value.isoformat() if value is not None else ""


def format_month(value: dt.date | None) -> str:
    """``YYYY-MM``; empty for no month."""
    return f"{value.year:04d}-{value.month:02d}" if value is not None else ""


class _HashingSink:
    """A text buffer turned into bytes of the package's encoding, hashed and written to a zip member."""

    def __init__(self, member: IO[bytes], encoding: str) -> None:
        self.member = member
        self.encoding = encoding
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, text: str) -> None:
        data = text.encode(self.encoding)
        self.sha256.update(data)
        self.size += len(data)
        self.member.write(data)


class PackageWriter:
    """Streams a package's files into a zip; ``finish`` writes the manifest and closes the zip.

    ``target`` is a path or a binary file object open for writing (a seekable one gives a smaller zip: the
    sizes go into the local headers instead of data descriptors). Use as a context manager: leaving it by an
    exception closes the zip without a manifest (an incomplete package that no reader accepts).
    """

    def __init__(self, target: str | Path | IO[bytes], *, encoding: str = "utf-8", compresslevel: int = 6) -> None:
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS}")
        self.encoding = encoding
        self.files: dict[str, dict] = {}
        self._zip = zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel)
        self._finished = False

    def __enter__(self) -> PackageWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    def write_rows(
        self, file_name: str, rows: Iterable[Sequence], *, on_chunk: Callable[[int], None] | None = None
    ) -> int:
        """Write one data file: the header, then ``rows`` (text values; ``None`` is an empty field). Returns the
        number of data rows. ``on_chunk(rows_so_far)`` is called after each chunk is written."""
        if file_name not in DATA_FILES:
            raise ValueError(f"{file_name} is not a file of the package")
        if file_name in self.files:
            raise ValueError(f"{file_name} is already written")
        if self._finished:
            raise ValueError("the package is finished")
        header = COLUMNS[file_name]
        count = 0
        # force_zip64: a district's contributions file may pass 2 GB unpacked.
        with self._zip.open(file_name, "w", force_zip64=True) as member:
            sink = _HashingSink(member, self.encoding)
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")
            writer.writerow(header)
            self._flush(file_name, buffer, sink, [], 0)
            source = iter(rows)
            while chunk := list(itertools.islice(source, CHUNK_ROWS)):
                writer.writerows(chunk)
                self._flush(file_name, buffer, sink, chunk, count)
                count += len(chunk)
                if on_chunk is not None:
                    on_chunk(count)
        self.files[file_name] = {"rows": count, "sha256": sink.sha256.hexdigest()}
        return count

    def _flush(self, file_name: str, buffer: io.StringIO, sink: _HashingSink, chunk: list, before: int) -> None:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)
        try:
            sink.write(text)
        except UnicodeEncodeError:
            raise _unencodable(file_name, chunk, before, self.encoding) from None

    def finish(self, manifest_fields: dict) -> dict:
        """Write ``manifest.json`` and close the zip. ``manifest_fields`` gives everything but ``format``,
        ``encoding`` and ``files``, which the writer fills in; the keys keep the spec's order. Returns the
        manifest."""
        if self._finished:
            raise ValueError("the package is finished")
        given = manifest_fields.get("encoding", self.encoding)
        if given != self.encoding:
            raise ValueError(f"the files are written in {self.encoding}, the manifest says {given}")
        manifest: dict = {"format": FORMAT}
        for key, value in manifest_fields.items():
            if key not in ("format", "encoding", "files", "totals"):
                manifest[key] = value
        manifest["encoding"] = self.encoding
        manifest["files"] = dict(self.files)
        if "totals" in manifest_fields:
            manifest["totals"] = manifest_fields["totals"]
        data = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
        self._zip.writestr(MANIFEST, data)
        self._finished = True
        self._zip.close()
        return manifest


def _unencodable(file_name: str, chunk: list, before: int, encoding: str) -> DomainError:
    """Name the first row and character the encoding cannot carry (a rare character in a name, in GBK)."""
    for offset, row in enumerate(chunk):
        for value in row:
            text = "" if value is None else str(value)
            try:
                text.encode(encoding)
            except UnicodeEncodeError as error:
                char = text[error.start : error.end]
                # Line 1 is the header: the first data row is line 2.
                line = before + offset + 2
                return DomainError(
                    f"{file_name} 第{line}行的“{text}”含有 {encoding.upper()} 编码无法表示的字符“{char}”，"
                    f"请改用 UTF-8 编码导出。",
                    code="unencodable",
                )
    return DomainError(f"{file_name} 含有 {encoding.upper()} 编码无法表示的字符，请改用 UTF-8 编码导出。")
