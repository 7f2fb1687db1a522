"""Archive items for tests, filed and placed through the services as a clerk would."""

from __future__ import annotations

import io
import itertools

from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from agencies.models import Agency, Region, RegionLevel, Role, User
from agencies.tests.factories import UserFactory
from archives import services
from archives.models import ArchiveFile, ArchiveItem, ArchiveKind

_positions = itertools.count(1)


def archivist(region: Region) -> User:
    """The county clerk of the region's county (one per county), who may file and place anything in it."""
    county = Region.objects.get(code=region.code[:6] + "000000", level=RegionLevel.COUNTY)
    agency = Agency.objects.get_or_create(region=county, defaults={"name": f"{county.name}经办机构"})[0]
    return UserFactory(username=f"archivist_{county.code}", role=Role.COUNTY_CLERK, agency=agency)


def make_item(
    region: Region,
    *,
    kind: str | ArchiveKind = "registration",
    year: int = 2024,
    title: str = "参保登记表",
    person=None,
    fields: dict | None = None,
    actor: User | None = None,
) -> ArchiveItem:
    """An item filed under ``region`` (a village, township or county) through ``services.item_create``.

    ``kind`` is a kind's code: "registration" is kept permanently, "payout_roll" 30 years, "monthly_report" 10.
    """
    return services.item_create(
        actor=actor or archivist(region),
        kind=kind if isinstance(kind, ArchiveKind) else services.kind_by_code(kind),
        region=region,
        year=year,
        title=title,
        person=person,
        fields=fields,
    )


def placed_item(
    region: Region,
    *,
    keeper: User | None = None,
    actor: User | None = None,
    room: str = "一号库房",
    cabinet: str = "A01",
    box: str = "001",
    position: str | None = None,
    **item_fields,
) -> ArchiveItem:
    """An item whose paper is in the archive room, placed by ``actor`` (the county's archivist unless named) and
    kept by ``keeper`` (the actor unless named). Positions are numbered on unless given."""
    actor = actor or archivist(region)
    item = make_item(region, actor=actor, **item_fields)
    return services.paper_place(
        actor=actor,
        item=item,
        room=room,
        cabinet=cabinet,
        box=box,
        position=position or str(next(_positions)),
        keeper=keeper,
    )


def png_upload(name: str = "scan.png", *, shade: int = 0) -> SimpleUploadedFile:
    """A small real PNG (a different ``shade`` gives different content, hence a different file)."""
    buffer = io.BytesIO()
    Image.new("L", (8, 8), color=shade).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def temporary_archive_storage(monkeypatch, path) -> FileSystemStorage:
    """Keep archive files of a test under ``path`` (the field's storage is made once, at import, from settings)."""
    storage = FileSystemStorage(location=str(path), base_url=None)
    monkeypatch.setattr(ArchiveFile._meta.get_field("file"), "storage", storage)
    return storage
