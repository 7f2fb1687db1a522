"""Opening a package safely, and reading its CSV members line by line."""

import hashlib
import io
import json
import zipfile

import pytest

from migration import layout
from migration.reader import PackageRefused, open_package
from migration.tests.testload_factories import (
    build_zip,
    clean_rows,
    csv_bytes,
    make_scene,
    manifest_for,
    run_testload,
    totals_of,
    where,
    zip_of,
)

P, C = layout.PERSONS, layout.CONTRIBUTIONS


def manifest(**changes) -> bytes:
    return json.dumps({"format": layout.FORMAT, "encoding": "utf-8", **changes}).encode()


def refusal(content: bytes) -> str:
    with pytest.raises(PackageRefused) as caught:
        open_package(io.BytesIO(content))
    return caught.value.message


def test_not_a_zip():
    assert "不是有效的zip" in refusal(b"PK\x03\x04 not really")


def test_a_zip_bomb_is_refused_from_its_declared_sizes(settings):
    # 30 MB of zeros deflate to some 30 KB: a ratio of about 1000, refused before a byte is inflated.
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(layout.MANIFEST, manifest())
        archive.writestr(P, b"\0" * (30 * 1024 * 1024))
    assert "压缩比异常" in refusal(out.getvalue())


def test_a_package_larger_than_the_unpacked_limit(settings):
    settings.MERGER_UNPACKED_MAX_BYTES = 1000
    assert "超过上限" in refusal(zip_of({layout.MANIFEST: manifest(), P: b"x," * 600}))


@pytest.mark.parametrize("name", ["../persons.csv", "/etc/passwd", "data/persons.csv", "a\\persons.csv"])
def test_a_member_name_with_a_path(name):
    assert "目录或路径" in refusal(zip_of({layout.MANIFEST: manifest(), name: b"x"}))


def test_too_many_members():
    members = {layout.MANIFEST: manifest(), **{f"f{n}.csv": b"x" for n in range(20)}}
    assert "最多允许20个" in refusal(zip_of(members))


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"{not json", "不是有效的JSON"),
        (b"[1, 2]", "JSON对象"),
        (manifest(format="merger-package/9"), "merger-package/1"),
        (manifest(encoding="latin-1"), "只能是utf-8或gbk"),
    ],
)
def test_a_manifest_that_cannot_be_used(content, words):
    assert words in refusal(zip_of({layout.MANIFEST: content}))


def test_a_package_without_manifest():
    assert "缺少manifest.json" in refusal(zip_of({P: b"insurance_no\n"}))


def test_rows_and_sha256_come_from_the_one_reading():
    rows = clean_rows()
    data = csv_bytes(P, rows[P])
    package = open_package(io.BytesIO(build_zip(rows)))
    member = package.csv(P)
    read = list(member)
    assert [line for line, _row in read] == [2, 3, 4]
    assert member.finish() == (hashlib.sha256(data).hexdigest(), 3)
    package.close()


@pytest.mark.django_db
def test_a_refused_package_reaches_the_testload_as_one_finding():
    scene = make_scene()
    load = run_testload(scene, zip_of({layout.MANIFEST: b"{not json"}))
    assert load.counts == {"package_unreadable": 1}


@pytest.mark.django_db
def test_a_broken_quote_is_a_finding_with_its_line_and_the_rest_is_read():
    scene = make_scene()
    rows = clean_rows()
    good = csv_bytes(C, rows[C])
    lines = good.split(b"\r\n")
    lines[2] = b'X0001,"2015,600.00,600.00,120.00,0.00,0.00,2015-05-10,bank_deduction'  # line 3: quote never closed
    broken = b"\r\n".join(lines)
    load = run_testload(scene, build_zip(rows, files={C: broken}))
    assert where(load, "csv_malformed") == [(C, 3, "")]


@pytest.mark.django_db
def test_a_quote_followed_by_text_is_a_finding_on_its_line():
    scene = make_scene()
    rows = clean_rows()
    lines = csv_bytes(C, rows[C]).split(b"\r\n")
    lines[3] = b'X0003,"2015"x,300.00,300.00,60.00,0.00,10.00,2015-06-01,bank_counter'
    load = run_testload(scene, build_zip(rows, files={C: b"\r\n".join(lines)}))
    assert where(load, "csv_malformed") == [(C, 4, "")]
    assert load.rows[C] == 2


@pytest.mark.django_db
def test_gbk_bytes_declared_utf8_are_encoding_errors_on_their_lines():
    scene = make_scene()
    rows = clean_rows()
    gbk = csv_bytes(P, rows[P], encoding="gbk")
    load = run_testload(scene, build_zip(rows, files={P: gbk}))
    assert where(load, "encoding_error") == [(P, 2, "name"), (P, 3, "name"), (P, 4, "name")]


@pytest.mark.django_db
def test_a_gbk_package_declared_gbk_reads_clean():
    scene = make_scene()
    rows = clean_rows()
    made = {name: csv_bytes(name, data, encoding="gbk") for name, data in rows.files.items()}
    content = zip_of({layout.MANIFEST: json.dumps(manifest_for(made, totals_of(rows), "gbk")).encode(), **made})
    load = run_testload(scene, content)
    assert load.blocking_count == 0, list(load.findings.values_list("kind", "message"))
    assert load.findings.count() == 0
