"""A merger package opened safely, and its CSV members read as a stream.

Opening refuses what cannot be read at all (``PackageRefused``): not a zip, a member name that would escape
the folder, too many members, a zip bomb (judged from the declared sizes before anything is inflated, and
again while inflating: a member that yields more than it declared stops), a manifest that is missing, not
JSON or of another format. Inside a readable package, a broken quote or undecodable bytes are problems of a
line, reported with its number, and reading goes on.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from django.conf import settings

from agencies.errors import DomainError
from migration import layout

MAX_MEMBERS = 20
# A file with this many broken lines is not worth reading further: the rest is drained for its SHA-256 only.
MAX_LINE_PROBLEMS = 1000
_READ_SIZE = 1 << 20


class PackageRefused(DomainError):
    """The package cannot be read at all; the message says why, in words a clerk can pass on to the source."""

    def __init__(self, message: str, *, code: str = "package_unreadable"):
        super().__init__(message, code=code)


# Undecodable bytes become U+FFFD and are counted, so the line that holds them is found and reported while the
# rest of the file is still read (a strict decoder fails a whole buffer, far from the line at fault).
_decode_state = threading.local()
_ERROR_HANDLER = "merger_package_replace"


def _count_and_replace(error: UnicodeError) -> tuple[str, int]:
    _decode_state.count = getattr(_decode_state, "count", 0) + 1
    return "\ufffd", error.end  # type: ignore[attr-defined]


codecs.register_error(_ERROR_HANDLER, _count_and_replace)


def _decode_errors() -> int:
    return getattr(_decode_state, "count", 0)


@dataclass
class LineProblem:
    kind: str  # csv_malformed or encoding_error
    line: int
    column: str
    value: str
    message: str


class _GuardedStream(io.RawIOBase):
    """A member's inflated bytes, hashed as they pass, refused past the size the zip declared for them."""

    def __init__(self, raw: IO[bytes], declared: int, name: str):
        self._raw = raw
        self._declared = declared
        self._name = name
        self.sha256 = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        count = self._raw.readinto(buffer)
        if count:
            self.size += count
            if self.size > self._declared:
                raise PackageRefused(f"数据包中的{self._name}解压后超过其声明的大小，疑似恶意压缩文件，已拒绝读取。")
            self.sha256.update(memoryview(buffer)[:count])
        return count

    def drain(self) -> None:
        buffer = bytearray(_READ_SIZE)
        while self.readinto(buffer):
            pass

    def close(self) -> None:
        self._raw.close()
        super().close()


class CsvMember:
    """One CSV file of the package: its header, then its data rows as (line, fields), the header being line 1.

    The SHA-256 and the count of data rows come from this one pass (``finish``). Problems of single lines
    (a broken quote, undecodable bytes, a wrong number of fields) are collected in ``problems`` and the line
    is skipped; the caller drains them as it goes.
    """

    def __init__(self, package: Package, name: str):
        info = package.infos[name]
        self.name = name
        self._stream = _GuardedStream(package.zip.open(info), info.file_size, name)
        self._text = io.TextIOWrapper(
            io.BufferedReader(self._stream, _READ_SIZE), encoding=package.encoding, errors=_ERROR_HANDLER, newline=""
        )
        self._reader = csv.reader(self._text, strict=True)
        self.problems: list[LineProblem] = []
        self.rows = 0
        self.abandoned = False
        self._line_problems = 0
        self._seen_errors = _decode_errors()
        self.header: list[str] = self._read_header()

    def _read_header(self) -> list[str]:
        for _line, row in self._records():
            self.rows = 0
            if row:
                header = [cell.strip() for cell in row]
                if header and header[0].startswith("\ufeff"):
                    header[0] = header[0][1:]
                return header
        return []

    def _problem(self, kind: str, line: int, column: str, value: str, message: str) -> None:
        self.problems.append(LineProblem(kind, line, column, value[:200], message))
        self._line_problems += 1
        if self._line_problems >= MAX_LINE_PROBLEMS and not self.abandoned:
            self.abandoned = True
            self.problems.append(
                LineProblem(
                    kind, line, "", "", f"{self.name}问题行过多（已达{MAX_LINE_PROBLEMS}行），其余内容不再读取。"
                )
            )

    def _records(self, width: int | None = None) -> Iterator[tuple[int, list[str]]]:
        """(line, fields) of each record; with ``width``, the data rows of that many fields (counted)."""
        reader = self._reader
        state = _decode_state
        previous = reader.line_num
        while not self.abandoned:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                line = previous + 1
                previous = reader.line_num
                self._problem(
                    "csv_malformed",
                    line,
                    "",
                    "",
                    f"第{line}行引号不成对或引号后多出字符（{error}），请检查该行的双引号。",
                )
                continue
            line = previous + 1
            previous = reader.line_num
            # Bytes that could not be decoded were counted as they were read, a buffer ahead of the rows.
            if self._seen_errors != getattr(state, "count", 0):
                bad = [i for i, cell in enumerate(row) if "\ufffd" in cell]
                if bad:
                    self._seen_errors += sum(row[i].count("\ufffd") for i in bad)
                    header = getattr(self, "header", [])
                    self._problem(
                        "encoding_error",
                        line,
                        header[bad[0]] if bad[0] < len(header) else "",
                        row[bad[0]],
                        f"第{line}行有无法按{self._text.encoding}编码识别的字符，请确认文件编码与清单一致。",
                    )
                    continue
            if width is not None and len(row) != width:
                if not row or (len(row) == 1 and not row[0]):
                    continue  # a blank line
                self._problem(
                    "csv_malformed",
                    line,
                    "",
                    ",".join(row)[:200],
                    f"第{line}行有{len(row)}个字段，表头有{width}列，请检查逗号和引号。",
                )
                continue
            self.rows += 1
            yield line, row

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        return self._records(len(self.header))

    def finish(self) -> tuple[str, int]:
        """(SHA-256 of the whole member, data rows read). Reads what is left unread, without parsing it."""
        self._stream.drain()
        return self._stream.sha256.hexdigest(), self.rows

    def close(self) -> None:
        self._stream.close()


@dataclass
class Package:
    zip: zipfile.ZipFile
    infos: dict[str, zipfile.ZipInfo]
    manifest: dict
    encoding: str
    names: set[str] = field(default_factory=set)

    def csv(self, name: str) -> CsvMember:
        return CsvMember(self, name)

    def close(self) -> None:
        self.zip.close()


def _check_members(infos: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
    if len(infos) > MAX_MEMBERS:
        raise PackageRefused(f"数据包内有{len(infos)}个文件，最多允许{MAX_MEMBERS}个，请只放入规定的数据文件。")
    members: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        name = info.filename
        if not name or name.startswith("/") or ".." in name or "\\" in name or "/" in name or ":" in name:
            raise PackageRefused(f"数据包内的文件名“{name[:100]}”含有目录或路径，数据文件须直接放在压缩包根目录。")
        if name in members:
            raise PackageRefused(f"数据包内有两个同名文件“{name[:100]}”。")
        if info.flag_bits & 0x1:
            raise PackageRefused(f"数据包内的文件“{name[:100]}”已加密，请上传未加密的数据包。")
        ratio_limit = settings.MERGER_MAX_RATIO
        if info.file_size and (info.compress_size == 0 or info.file_size > info.compress_size * ratio_limit):
            raise PackageRefused(
                f"数据包内的文件“{name[:100]}”压缩比异常（超过{ratio_limit}倍），疑似恶意压缩文件，已拒绝读取。"
            )
        total += info.file_size
        members[name] = info
    limit = settings.MERGER_UNPACKED_MAX_BYTES
    if total > limit:
        raise PackageRefused(f"数据包解压后共{total // (1024 * 1024)} MB，超过上限{limit // (1024 * 1024)} MB。")
    return members


def _read_manifest(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> dict:
    stream = _GuardedStream(archive.open(info), info.file_size, layout.MANIFEST)
    try:
        content = stream.read()
    finally:
        stream.close()
    try:
        manifest = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise PackageRefused("数据包中的manifest.json不是有效的JSON文件，请让源系统重新生成数据包。") from None
    if not isinstance(manifest, dict):
        raise PackageRefused("数据包中的manifest.json内容格式不对（应为一个JSON对象）。")
    if manifest.get("format") != layout.FORMAT:
        raise PackageRefused(
            f"数据包格式为“{str(manifest.get('format'))[:50]}”，本系统只能读取“{layout.FORMAT}”格式的并轨数据包。"
        )
    encoding = str(manifest.get("encoding", "")).strip().lower()
    if encoding not in layout.ENCODINGS:
        raise PackageRefused(f"数据包清单中的编码“{encoding[:30]}”不受支持，只能是utf-8或gbk。")
    manifest["encoding"] = encoding
    return manifest


def open_package(file: IO[bytes]) -> Package:
    """Open a package from a seekable binary file; PackageRefused when it cannot be read at all."""
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise PackageRefused("上传的文件不是有效的zip压缩包，请上传源系统生成的.zip数据包。") from None
    try:
        members = _check_members(archive.infolist())
        if layout.MANIFEST not in members:
            raise PackageRefused("数据包中缺少manifest.json（数据包清单），无法读取。")
        manifest = _read_manifest(archive, members[layout.MANIFEST])
    except BaseException:
        archive.close()
        raise
    return Package(zip=archive, infos=members, manifest=manifest, encoding=manifest["encoding"], names=set(members))
