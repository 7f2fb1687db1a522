"""The package writer: CSV files streamed into a zip with their row counts and SHA-256, and the manifest."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import zipfile
from decimal import Decimal

import pytest

from agencies.errors import DomainError
from migration import layout, package
from migration.package import PackageWriter, format_date, format_money, format_month

TOTALS = {
    "persons": 2,
    "recipients": 0,
    "account_balance": "0.00",
    "pooled_account_balance": "0.00",
    "contributions_personal": "0.00",
    "contributions_subsidy": "0.00",
}


def person(number: str, name: str = "王芳", address: str = "") -> list[str]:
    return [number, "320411197005170022", name, "2", "1970-05-17", "urban", "320411101001", address, "", "", "",
            "contributing", "2013-03-01", "", ""]  # fmt: skip


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_DEFLATED}
        return {name: archive.read(name) for name in archive.namelist()}


def test_a_file_is_the_header_then_rfc4180_rows_with_crlf():
    target = io.BytesIO()
    with PackageWriter(target) as writer:
        count = writer.write_rows(
            layout.PERSONS, [person("1", address='长江路8号, "东"门'), person("2", name="李强", address="一组\n二排")]
        )
        writer.finish({"package_id": "x", "totals": TOTALS})

    assert count == 2
    data = members(target.getvalue())[layout.PERSONS]
    lines = data.decode("utf-8").split("\r\n")
    assert lines[0] == ",".join(layout.COLUMNS[layout.PERSONS])
    # A comma and quotes are quoted, a quote doubled; a line break stays inside its quoted field.
    assert lines[1].split(",")[7:9] == ['"长江路8号', ' ""东""门"']
    assert '"一组\r\n二排"' not in data.decode("utf-8") and '"一组\n二排"' in data.decode("utf-8")
    assert data.endswith(b"\r\n")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert rows[1][7] == '长江路8号, "东"门' and rows[2][7] == "一组\n二排"
    assert len(rows) == 3


def test_the_manifest_carries_counts_and_digests_of_the_stored_bytes_in_the_spec_order():
    target = io.BytesIO()
    with PackageWriter(target) as writer:
        writer.write_rows(layout.PERSONS, [person("1"), person("2")])
        writer.write_rows(layout.ACCOUNTS, [])
        manifest = writer.finish(
            {
                "package_id": "320411-1-20151226T100000.000000Z",
                "source_pooling_region": "320411",
                "source_name": "新北区",
                "target_pooling_region": "320400",
                "frozen_at": "2015-12-26T18:00:00+08:00",
                "interest_settled_through": "2015-12-26",
                "totals": TOTALS,
            }
        )

    stored = members(target.getvalue())
    assert json.loads(stored[layout.MANIFEST].decode("utf-8")) == manifest
    assert "新北区" in stored[layout.MANIFEST].decode("utf-8")  # not \\u escapes
    assert stored[layout.MANIFEST].startswith(b'{\n  "format": "merger-package/1",\n')
    assert list(manifest) == [
        "format", "package_id", "source_pooling_region", "source_name", "target_pooling_region", "frozen_at",
        "interest_settled_through", "encoding", "files", "totals",
    ]  # fmt: skip
    assert manifest["encoding"] == "utf-8"
    assert manifest["files"] == {
        layout.PERSONS: {"rows": 2, "sha256": hashlib.sha256(stored[layout.PERSONS]).hexdigest()},
        layout.ACCOUNTS: {"rows": 0, "sha256": hashlib.sha256(stored[layout.ACCOUNTS]).hexdigest()},
    }
    # A file without rows is its header alone.
    assert stored[layout.ACCOUNTS] == (",".join(layout.COLUMNS[layout.ACCOUNTS]) + "\r\n").encode()


def test_gbk_files_are_encoded_and_hashed_in_gbk():
    target = io.BytesIO()
    with PackageWriter(target, encoding="gbk") as writer:
        writer.write_rows(layout.PERSONS, [person("1", name="王芳")])
        manifest = writer.finish({"package_id": "x", "totals": TOTALS})

    stored = members(target.getvalue())
    assert "王芳".encode("gbk") in stored[layout.PERSONS]
    assert "王芳".encode() not in stored[layout.PERSONS]
    assert manifest["encoding"] == "gbk"
    assert manifest["files"][layout.PERSONS]["sha256"] == hashlib.sha256(stored[layout.PERSONS]).hexdigest()
    # The manifest itself is UTF-8 JSON.
    assert json.loads(stored[layout.MANIFEST].decode("utf-8"))["encoding"] == "gbk"


def test_a_character_gbk_cannot_carry_is_refused_with_its_line():
    rows = [person(str(n)) for n in range(5)] + [person("5", name="𠮷野")]
    with PackageWriter(io.BytesIO(), encoding="gbk") as writer, pytest.raises(DomainError) as refused:
        writer.write_rows(layout.PERSONS, rows)

    # Five rows after the header (line 1): the sixth data row is line 7.
    assert "第7行" in refused.value.message and "𠮷" in refused.value.message
    assert refused.value.code == "unencodable"


def test_a_file_longer_than_a_chunk_streams_whole(monkeypatch):
    monkeypatch.setattr(package, "CHUNK_ROWS", 7)
    produced = 0

    def rows():
        nonlocal produced
        for n in range(30):
            produced += 1
            yield [f"{n:014d}", "2015", "100.00"]

    target = io.BytesIO()
    with PackageWriter(target) as writer:
        assert writer.write_rows(layout.TIER_CHOICES, rows()) == 30
        manifest = writer.finish({"package_id": "x", "totals": TOTALS})

    data = members(target.getvalue())[layout.TIER_CHOICES]
    lines = data.decode().split("\r\n")
    assert lines[1] == "00000000000000,2015,100.00" and lines[30] == "00000000000029,2015,100.00"
    assert manifest["files"][layout.TIER_CHOICES] == {"rows": 30, "sha256": hashlib.sha256(data).hexdigest()}


def test_a_file_twice_an_unknown_file_and_a_mismatched_encoding_are_refused(tmp_path):
    with PackageWriter(tmp_path / "p.zip") as writer:
        writer.write_rows(layout.PERSONS, [])
        with pytest.raises(ValueError):
            writer.write_rows(layout.PERSONS, [])
        with pytest.raises(ValueError):
            writer.write_rows("other.csv", [])
        with pytest.raises(ValueError):
            writer.finish({"encoding": "gbk"})
        writer.finish({"package_id": "x"})
        with pytest.raises(ValueError):
            writer.write_rows(layout.ACCOUNTS, [])
    with pytest.raises(ValueError):
        PackageWriter(tmp_path / "q.zip", encoding="latin-1")
    with zipfile.ZipFile(tmp_path / "p.zip") as archive:
        assert sorted(archive.namelist()) == [layout.MANIFEST, layout.PERSONS]


def test_an_unfinished_package_has_no_manifest(tmp_path):
    with pytest.raises(RuntimeError), PackageWriter(tmp_path / "p.zip") as writer:
        writer.write_rows(layout.PERSONS, [person("1")])
        raise RuntimeError("killed")

    with zipfile.ZipFile(tmp_path / "p.zip") as archive:
        assert archive.namelist() == [layout.PERSONS]


def test_money_dates_and_months_as_text():
    assert format_money(Decimal("300")) == "300.00"
    assert format_money(Decimal("0")) == "0.00"
    assert format_money(Decimal("1234567.5")) == "1234567.50"
    assert format_money(Decimal("-12.30")) == "-12.30"
    with pytest.raises(TypeError):
        format_money(300.0)  # type: ignore[arg-type]
    assert format_date(dt.date(2015, 12, 26)) == "2015-12-26"
    assert format_date(None) == ""
    assert format_month(dt.date(2016, 1, 1)) == "2016-01"
    assert format_month(None) == ""
