"""Build regions, agencies and staff for tests. ``region_line`` gives city → county → township → village."""

from dataclasses import dataclass

import factory

from agencies.models import Agency, PoolingRegion, Region, RegionLevel, Role, User


class PoolingRegionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PoolingRegion
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"P{n:04d}")
    name = factory.Sequence(lambda n: f"统筹区{n}")


class RegionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Region
        django_get_or_create = ("code",)

    name = factory.Sequence(lambda n: f"地区{n}")
    level = RegionLevel.VILLAGE


class AgencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agency

    name = factory.LazyAttribute(lambda o: f"{o.region.name}经办机构")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    last_name = "王"
    first_name = factory.Sequence(lambda n: f"经办{n}")
    password = factory.django.Password("pass-12345")


@dataclass
class RegionLine:
    """One line of places down the tree, with the agency at each level."""

    city: Region
    county: Region
    township: Region
    village: Region
    pooling_region: PoolingRegion

    def agency(self, level: str) -> Agency:
        region = getattr(self, level)
        return Agency.objects.get_or_create(region=region, defaults={"name": f"{region.name}经办机构"})[0]

    def staff(self, role: str, username: str | None = None) -> User:
        level = ROLE_LEVEL[role]
        return UserFactory(
            username=username or f"{role}_{getattr(self, level).code}", role=role, agency=self.agency(level)
        )


ROLE_LEVEL = {
    Role.VILLAGE_AGENT: "village",
    Role.TOWNSHIP_CLERK: "township",
    Role.COUNTY_CLERK: "county",
    Role.COUNTY_APPROVER: "county",
    Role.COUNTY_FUND_OFFICER: "county",
    Role.CITY_SUPERVISOR: "city",
    Role.ADMINISTRATOR: "city",
}


def region_line(
    county: str = "320412", township: str = "101", village: str = "201", city: str | None = None
) -> RegionLine:
    """E.g. region_line() → 常州 3204 / 武进 320412 / 320412101 / 320412101201."""
    city_code = (city or county[:4]) + "00000000"
    city_region = RegionFactory(code=city_code, name=f"市{city_code[:4]}", level=RegionLevel.CITY)
    pooling = PoolingRegionFactory(code=county, name=f"统筹区{county}")
    county_region = RegionFactory(
        code=f"{county}000000",
        name=f"县{county}",
        level=RegionLevel.COUNTY,
        parent=city_region,
        pooling_region=pooling,
    )
    township_region = RegionFactory(
        code=f"{county}{township}000", name=f"镇{county}{township}", level=RegionLevel.TOWNSHIP, parent=county_region
    )
    village_region = RegionFactory(
        code=f"{county}{township}{village}",
        name=f"村{county}{township}{village}",
        level=RegionLevel.VILLAGE,
        parent=township_region,
    )
    return RegionLine(city_region, county_region, township_region, village_region, pooling)
