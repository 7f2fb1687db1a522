"""``python manage.py seed_demo [--persons N] [--seed S]``: a demo city to click through.

Builds a city modelled on Changzhou (常州市) as it was laid out before the 2016 merger: six counties and
districts in four pooling regions, about 30 towns and streets and about 300 villages and communities, an
agency at every level with staff for every role, and N insured persons with valid identity numbers.

Safe to run again: regions, agencies and staff that exist are kept as they are, and persons are only
added until there are N. The data depend on nothing but the seed: dates are counted back from
``REFERENCE_DATE``, not from today, and person number i is drawn from its own generator, so a run to
100,000 persons begins with the same 3,000 that a default run makes.
"""

import datetime as dt
import random
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction
from django.db.models import DateTimeField, Max, Model
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from agencies.models import Agency, PoolingRegion, Region, RegionLevel, Role, User
from archives.demo import ArchivesDemo, ArchiveStaff, seed_archives
from benefits.demo import BenefitsDemo, DemoStaff, seed_benefits
from contributions.bank import deduct_batch_issue
from contributions.demo import seed_contributions
from enrollment import idnumber
from enrollment.models import (
    CERTIFYING_DEPARTMENTS,
    Application,
    ApplicationEvent,
    ApplicationKind,
    ApplicationStatus,
    CancellationReason,
    InsuranceNumberCounter,
    InsuredPerson,
    PersonStatus,
    SpecialGroup,
    SpecialGroupMembership,
)
from enrollment.pinyin import name_initials
from funds.demo import BankDemo, seed_bank
from migration.demo import seed_merger
from migration.models import MergerProject
from portal.summaries import month_start, summaries_rebuild

# Every date in the demo is counted back from here, so the same seed gives the same data on any day.
REFERENCE_DATE = dt.date(2026, 11, 1)
ENROLMENT_START = dt.date(2010, 1, 1)
TZ = ZoneInfo("Asia/Shanghai")

DEFAULT_PERSONS = 3000
DEMO_SUMMARY_MONTHS = 24  # the months of summaries the demo's dashboards start with
DEFAULT_SEED = 2016
BATCH_SIZE = 5000
DEMO_PASSWORD = "demo12345"

# --- the region tree --------------------------------------------------------------------------------

PROVINCE = ("320000000000", "江苏省")
CITY = ("320400000000", "常州市")

POOLING_REGIONS = {
    "320400": "常州市本级",
    "320411": "新北区",
    "320413": "金坛区",
    "320481": "溧阳市",
}


@dataclass(frozen=True)
class CountySpec:
    code: str  # 6 digits, as in GB/T 2260 and the identity numbers
    name: str
    pooling_code: str
    townships: tuple[str, ...]


COUNTIES = (
    CountySpec("320402", "天宁区", "320400", ("茶山街道", "雕庄街道", "红梅街道", "青龙街道")),
    CountySpec("320404", "钟楼区", "320400", ("五星街道", "永红街道", "北港街道", "西林街道")),
    CountySpec("320411", "新北区", "320411", ("三井街道", "河海街道", "春江镇", "孟河镇", "薛家镇", "罗溪镇")),
    # 奔牛, 郑陆 and 邹区 are the towns the 2016 merger moved; 奔牛镇 carries the demo logins.
    CountySpec(
        "320412",
        "武进区",
        "320400",
        ("奔牛镇", "郑陆镇", "邹区镇", "湖塘镇", "牛塘镇", "洛阳镇", "遥观镇", "横林镇", "前黄镇"),
    ),
    CountySpec("320413", "金坛区", "320413", ("金城镇", "儒林镇", "直溪镇", "薛埠镇")),
    CountySpec("320481", "溧阳市", "320481", ("溧城镇", "埭头镇", "上黄镇", "戴埠镇", "天目湖镇")),
)

COUNTY_SHORT_NAMES = {c.code: c.name[:2] for c in COUNTIES}  # 武进区 → 武进, as in document numbers

DEMO_COUNTY = "320412000000"  # 武进区
DEMO_TOWNSHIP = "320412101000"  # 奔牛镇
DEMO_VILLAGE = "320412101201"  # the first village of 奔牛镇

VILLAGE_FIRST = "东西南北新前后大小上下中王李陈张周杨黄朱沈钱孙蒋潘汤丁庄石芦桃杏柳竹梅兴和安永长清龙凤金白青红三五九"
VILLAGE_SECOND = "桥庄巷塘湾港墅舍家圩浜泾埠店坝墩河园林溪"
COMMUNITY_FIRST = "丽华锦翠清兰桂紫富康和新星朝阳春永常龙凤江湖荷梅桃竹松柳"
COMMUNITY_SECOND = "园苑城湾坊里庭馨景华安宁康泰河港"
ROADS = ("人民路", "建设路", "解放路", "长江路", "通江路", "延陵路", "和平路", "青洋路", "龙城大道", "花园街")

# --- people -------------------------------------------------------------------------------------------

SURNAMES = {
    "王": 70, "李": 66, "张": 66, "陈": 60, "刘": 48, "周": 35, "徐": 34, "朱": 28, "吴": 27, "杨": 26,
    "蒋": 22, "钱": 18, "沈": 18, "顾": 16, "陆": 16, "黄": 16, "赵": 16, "孙": 16, "马": 10, "胡": 12,
    "郭": 8, "林": 8, "何": 8, "高": 9, "罗": 6, "汤": 8, "史": 8, "邹": 7, "恽": 4, "庄": 7, "盛": 6,
    "袁": 7, "许": 9, "潘": 7, "丁": 8, "姚": 7, "薛": 6, "殷": 5, "谢": 6, "曹": 8, "吕": 5, "韩": 5,
    "宋": 5, "唐": 8, "冯": 5, "程": 5, "孔": 3, "巢": 3, "费": 3, "包": 4,
}  # fmt: skip
SURNAME_LIST = tuple(SURNAMES)
SURNAME_WEIGHTS = tuple(SURNAMES.values())

# Given names follow the fashion of the birth years: 建国 and 秀英 are older than 浩宇 and 欣怡.
GIVEN_OLD_MALE = "国建平明华军德荣福生根林金宝忠兴祥庆洪富春海永志伟成才良云清贵东"
GIVEN_OLD_FEMALE = "秀英兰芳珍桂凤玉琴梅华芬美菊娟红萍霞丽云仙月素春彩金娣妹"
GIVEN_YOUNG_MALE = "浩宇子轩俊杰伟涛磊鹏飞博文斌超强勇帅晨阳辰逸凯健锋翔睿泽豪"
GIVEN_YOUNG_FEMALE = "欣怡梓涵雨婷静敏燕丽娜倩洁雪琳颖佳慧蕾晶瑶丹妍璐悦思婕"

# (youngest, oldest, weight): the insured are mostly of working age, with many already drawing a pension.
AGE_BANDS = ((16, 29, 12), (30, 44, 20), (45, 59, 33), (60, 74, 25), (75, 90, 10))

MOBILE_PREFIXES = tuple(
    str(p) for p in (*range(130, 140), 150, 151, 152, 153, 155, 156, 157, 158, 159, 177, *range(180, 190), 199)
)
# (bank code, card BIN, weight): 江南农商行 holds most resident-scheme accounts in Changzhou.
BANKS = (("314", "623062", 50), ("103", "622848", 20), ("102", "621226", 10), ("105", "621700", 8), ("403", "621799", 7), ("104", "621661", 5))  # fmt: skip

RETURN_REASONS = (
    "身份证复印件不清晰，请重新上传。",
    "户口簿首页缺失，请补充户籍证明。",
    "银行账号与社会保障卡不一致，请核对。",
    "联系电话位数不对，请核对后重新填写。",
)
CANCEL_NOTES = {
    CancellationReason.DEATH: "家属持死亡证明申请注销",
    CancellationReason.EMIGRATION: "本人已定居国外并丧失中国国籍",
    CancellationReason.OTHER_PENSION: "已领取职工基本养老金",
    CancellationReason.TRANSFER_OUT: "户籍迁出本统筹区",
}
GROUP_WEIGHTS = {
    SpecialGroup.SUBSISTENCE: 35,
    SpecialGroup.SEVERE_DISABILITY: 25,
    SpecialGroup.FAMILY_PLANNING: 15,
    SpecialGroup.LAND_EXPROPRIATED: 15,
    SpecialGroup.EXTREME_POVERTY: 10,
}
GROUP_DOCUMENT = {
    SpecialGroup.SUBSISTENCE: "民低保",
    SpecialGroup.EXTREME_POVERTY: "民特困",
    SpecialGroup.SEVERE_DISABILITY: "残联证",
    SpecialGroup.FAMILY_PLANNING: "卫健特扶",
    SpecialGroup.LAND_EXPROPRIATED: "自然资征",
}

# --- staff ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    region_code: str
    last_name: str
    first_name: str
    superuser: bool = False


# One login per role, all on the line 武进区 → 奔牛镇 → one village, so a form can be followed end to end.
DEMO_LOGINS = (
    DemoLogin("village_agent", Role.VILLAGE_AGENT, DEMO_VILLAGE, "蒋", "建华"),
    DemoLogin("township_clerk", Role.TOWNSHIP_CLERK, DEMO_TOWNSHIP, "陈", "丽娟"),
    DemoLogin("township_clerk2", Role.TOWNSHIP_CLERK, DEMO_TOWNSHIP, "周", "志强"),
    DemoLogin("county_clerk", Role.COUNTY_CLERK, DEMO_COUNTY, "徐", "敏"),
    DemoLogin("county_approver", Role.COUNTY_APPROVER, DEMO_COUNTY, "朱", "国平"),
    DemoLogin("county_fund_officer", Role.COUNTY_FUND_OFFICER, DEMO_COUNTY, "钱", "晓燕"),
    # 常州市本级 spans three districts: its monthly payroll is run at the city, by a fund officer there.
    DemoLogin("city_fund_officer", Role.COUNTY_FUND_OFFICER, CITY[0], "孙", "丽华"),
    DemoLogin("city_supervisor", Role.CITY_SUPERVISOR, CITY[0], "沈", "卫东"),
    DemoLogin("admin", Role.ADMINISTRATOR, CITY[0], "顾", "明", superuser=True),
)

# Staff of every other agency: username = region code + suffix, e.g. 320411_approver, 320481101_clerk.
STAFF_ROLES = {
    RegionLevel.COUNTY: (("clerk", Role.COUNTY_CLERK), ("approver", Role.COUNTY_APPROVER), ("fund", Role.COUNTY_FUND_OFFICER)),
    RegionLevel.TOWNSHIP: (("clerk", Role.TOWNSHIP_CLERK), ("clerk2", Role.TOWNSHIP_CLERK)),
    RegionLevel.VILLAGE: (("agent", Role.VILLAGE_AGENT),),
}  # fmt: skip


def _short_code(region: Region) -> str:
    return region.scope_prefix


def staff_username(region: Region, suffix: str) -> str:
    return f"{_short_code(region)}_{suffix}"


# --- the tree -----------------------------------------------------------------------------------------


@dataclass
class RegionDraft:
    code: str
    name: str
    level: str
    parent_code: str | None
    pooling_code: str | None = None
    registered_population: int = 0


def region_drafts() -> list[RegionDraft]:
    """The whole tree, drawn from a fixed generator: the same on every run, whatever --seed says."""
    rng = random.Random("changzhou-regions")
    drafts = [
        RegionDraft(PROVINCE[0], PROVINCE[1], RegionLevel.PROVINCE, None),
        RegionDraft(CITY[0], CITY[1], RegionLevel.CITY, PROVINCE[0]),
    ]
    for county in COUNTIES:
        county_code = county.code + "000000"
        drafts.append(RegionDraft(county_code, county.name, RegionLevel.COUNTY, CITY[0], county.pooling_code))
        used_names: set[str] = set()
        street_no = town_no = 0
        for township in county.townships:
            # Division-code practice: streets 001–099, towns 100 up; communities 001–199, villages 200 up.
            if township.endswith("街道"):
                street_no += 1
                township_code = f"{county.code}{street_no:03d}"
                communities, villages = rng.randint(6, 9), rng.randint(0, 3)
            else:
                town_no += 1
                township_code = f"{county.code}{100 + town_no:03d}"
                communities, villages = rng.randint(1, 2), rng.randint(7, 10)
            drafts.append(RegionDraft(township_code + "000", township, RegionLevel.TOWNSHIP, county_code))
            for number in range(1, communities + 1):
                name = _unique_name(rng, used_names, COMMUNITY_FIRST, COMMUNITY_SECOND, "社区")
                drafts.append(
                    RegionDraft(
                        f"{township_code}{number:03d}",
                        name,
                        RegionLevel.VILLAGE,
                        township_code + "000",
                        registered_population=rng.randint(800, 3000),
                    )
                )
            for number in range(1, villages + 1):
                name = _unique_name(rng, used_names, VILLAGE_FIRST, VILLAGE_SECOND, "村")
                drafts.append(
                    RegionDraft(
                        f"{township_code}{200 + number:03d}",
                        name,
                        RegionLevel.VILLAGE,
                        township_code + "000",
                        registered_population=rng.randint(800, 3000),
                    )
                )
    return drafts


def _unique_name(rng: random.Random, used: set[str], first: str, second: str, suffix: str) -> str:
    while True:
        a, b = rng.choice(first), rng.choice(second)
        name = f"{a}{b}{suffix}"
        if a != b and name not in used:
            used.add(name)
            return name


def ensure_regions() -> dict[str, Region]:
    """Create what is missing of the tree, level by level (a child needs its parent's id)."""
    for code, name in POOLING_REGIONS.items():
        # The scheme (新农保 pilots, then 城乡居保) started here on 1 July 2009 in the demo.
        PoolingRegion.objects.get_or_create(
            code=code, defaults={"name": name, "scheme_started_on": dt.date(2009, 7, 1)}
        )
    pooling = {p.code: p for p in PoolingRegion.objects.filter(code__in=POOLING_REGIONS)}
    drafts = region_drafts()
    existing = {r.code: r for r in Region.objects.filter(code__in=[d.code for d in drafts])}
    for level in (
        RegionLevel.PROVINCE,
        RegionLevel.CITY,
        RegionLevel.COUNTY,
        RegionLevel.TOWNSHIP,
        RegionLevel.VILLAGE,
    ):
        missing = [
            Region(
                code=d.code,
                name=d.name,
                level=d.level,
                parent=existing[d.parent_code] if d.parent_code else None,
                pooling_region=pooling[d.pooling_code] if d.pooling_code else None,
                registered_population=d.registered_population,
            )
            for d in drafts
            if d.level == level and d.code not in existing
        ]
        Region.objects.bulk_create(missing)
        existing.update({r.code: r for r in Region.objects.filter(code__in=[m.code for m in missing])})
    return existing


# --- agencies and staff --------------------------------------------------------------------------------


def agency_name(region: Region) -> str:
    if region.level == RegionLevel.CITY:
        return f"{region.name}社会保险管理局"
    if region.level == RegionLevel.COUNTY:
        return f"{region.name}城乡居民养老保险经办中心"
    if region.level == RegionLevel.TOWNSHIP:
        return f"{region.name}社会保障所"
    return f"{region.name}社保代办点"


def ensure_agencies(regions: dict[str, Region]) -> dict[str, Agency]:
    """One agency per city, county, township and village; an agency already at a region is kept."""
    staffed = [r for r in regions.values() if r.level != RegionLevel.PROVINCE]
    existing: dict[str, Agency] = {}
    for agency in Agency.objects.filter(region__in=staffed).select_related("region").order_by("-pk"):
        existing[agency.region.code] = agency  # the oldest one wins
    missing = [Agency(name=agency_name(r), region=r) for r in staffed if r.code not in existing]
    Agency.objects.bulk_create(missing)
    for agency in Agency.objects.filter(region__in=staffed).select_related("region").order_by("-pk"):
        existing[agency.region.code] = agency
    return existing


@dataclass
class Staff:
    """Who enters, reviews and approves in each place: looked up by region code."""

    agents: dict[str, User] = field(default_factory=dict)  # village code → village agent
    township_clerks: dict[str, tuple[User, User]] = field(default_factory=dict)  # township code → two clerks
    approvers: dict[str, User] = field(default_factory=dict)  # county code → approver


def ensure_staff(regions: dict[str, Region], agencies: dict[str, Agency]) -> Staff:
    rng = random.Random("changzhou-staff")
    password = make_password(DEMO_PASSWORD)  # hashed once: hundreds of staff share the demo password
    wanted: list[User] = []
    # (region code, role) → the demo usernames that hold that post, in order.
    demo_usernames: dict[tuple[str, str], list[str]] = {}
    for login in DEMO_LOGINS:
        demo_usernames.setdefault((login.region_code, login.role), []).append(login.username)
        wanted.append(
            User(
                username=login.username,
                password=password,
                last_name=login.last_name,
                first_name=login.first_name,
                role=login.role,
                agency=agencies[login.region_code],
                is_superuser=login.superuser,
                is_staff=login.superuser,
            )
        )
    for code in sorted(regions):
        region = regions[code]
        for suffix, role in STAFF_ROLES.get(RegionLevel(region.level), ()):
            surname = rng.choices(SURNAME_LIST, SURNAME_WEIGHTS)[0]
            given = "".join(rng.choice(GIVEN_OLD_MALE + GIVEN_OLD_FEMALE) for _ in range(rng.randint(1, 2)))
            if (code, role) in demo_usernames:
                continue  # the demo logins hold these posts
            wanted.append(
                User(
                    username=staff_username(region, suffix),
                    password=password,
                    last_name=surname,
                    first_name=given,
                    role=role,
                    agency=agencies[code],
                )
            )
    taken = set(User.objects.filter(username__in=[u.username for u in wanted]).values_list("username", flat=True))
    bulk_create_with_history(
        [u for u in wanted if u.username not in taken], User, default_change_reason="演示数据：创建工作人员"
    )
    users = {u.username: u for u in User.objects.filter(username__in=[u.username for u in wanted])}
    staff = Staff()
    for code, region in regions.items():

        def user_for(suffix: str, role: str, nth: int = 0, code: str = code, region: Region = region) -> User:
            names = demo_usernames.get((code, role))
            return users[names[nth] if names else staff_username(region, suffix)]

        if region.level == RegionLevel.VILLAGE:
            staff.agents[code] = user_for("agent", Role.VILLAGE_AGENT)
        elif region.level == RegionLevel.TOWNSHIP:
            staff.township_clerks[code] = (
                user_for("clerk", Role.TOWNSHIP_CLERK, 0),
                user_for("clerk2", Role.TOWNSHIP_CLERK, 1),
            )
        elif region.level == RegionLevel.COUNTY:
            staff.approvers[code] = user_for("approver", Role.COUNTY_APPROVER)
    return staff


# --- persons ---------------------------------------------------------------------------------------------


@dataclass
class PersonDraft:
    """One generated person and what happened to them, before anything is written."""

    person: InsuredPerson
    application_status: str = ""  # an open registration: submitted, accepted or returned
    entered_by_clerk: bool = False  # the township clerk, not the village agent, typed the form
    submitted_at: dt.datetime | None = None
    reviewed_at: dt.datetime | None = None
    return_reason: str = ""
    cancellation_reason: str = ""
    cancel_submitted_at: dt.datetime | None = None
    special_group: str = ""
    certified_on: dt.date | None = None
    certificate_number: str = ""


def _random_date(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    if end <= start:
        return start
    return start + dt.timedelta(days=rng.randint(0, (end - start).days))


def _office_time(rng: random.Random, day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(rng.randint(8, 16), rng.randint(0, 59), rng.randint(0, 59)), TZ)


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _given_name(rng: random.Random, male: bool, birth_year: int) -> str:
    if birth_year < 1975:
        pool = GIVEN_OLD_MALE if male else GIVEN_OLD_FEMALE
    else:
        pool = GIVEN_YOUNG_MALE if male else GIVEN_YOUNG_FEMALE
    length = 1 if rng.random() < 0.22 else 2
    return "".join(rng.choice(pool) for _ in range(length))


@dataclass(frozen=True)
class _VillagePicker:
    villages: list[Region]
    cum_weights: list[int]
    demo_village: list[Region]
    demo_township: list[Region]

    @classmethod
    def over(cls, villages: list[Region]) -> "_VillagePicker":
        villages = sorted(villages, key=lambda v: v.code)
        cum_weights: list[int] = []
        total = 0
        for village in villages:  # larger villages get more persons
            total += max(village.registered_population, 1)
            cum_weights.append(total)
        return cls(
            villages=villages,
            cum_weights=cum_weights,
            demo_village=[v for v in villages if v.code == DEMO_VILLAGE],
            demo_township=[v for v in villages if v.code.startswith(DEMO_TOWNSHIP[:9])],
        )

    def pick(self, rng: random.Random, index: int) -> Region:
        # The demo line gets more than its share, so the demo logins have full lists to work with.
        if index < 4000 and index % 10 == 0 and self.demo_village:
            return self.demo_village[0]
        if index < 10000 and index % 10 == 1 and self.demo_township:
            return rng.choice(self.demo_township)
        return rng.choices(self.villages, cum_weights=self.cum_weights)[0]


def generate_persons(
    *, seed: int, start: int, count: int, villages: list[Region], taken_ids: set[str]
) -> Iterator[PersonDraft]:
    """Persons number start .. start+count-1, each from its own generator (so a top-up matches a fresh run).

    Identity numbers already in ``taken_ids`` are avoided, and every number handed out is added to it.
    Insurance numbers are not set here: they come from the county's counter when the batch is written.
    """
    picker = _VillagePicker.over(villages)
    initials_cache: dict[str, str] = {}
    band_weights = [w for _, _, w in AGE_BANDS]
    for index in range(start, start + count):
        rng = random.Random(f"{seed}/{index}")
        village = picker.pick(rng, index)
        youngest, oldest, _ = rng.choices(AGE_BANDS, band_weights)[0]
        age = rng.randint(youngest, oldest)
        birth_date = REFERENCE_DATE - dt.timedelta(days=age * 365 + age // 4 + rng.randint(1, 364))
        male = rng.random() < 0.5
        while True:
            sequence = 2 * rng.randint(0, 499) + 1 if male else 2 * rng.randint(1, 499)
            number = idnumber.make(village.code[:6], birth_date, sequence)
            if number not in taken_ids:
                taken_ids.add(number)
                break
            birth_date -= dt.timedelta(days=1)  # that day's sequences may be running out
        surname = rng.choices(SURNAME_LIST, SURNAME_WEIGHTS)[0]
        given = _given_name(rng, male, birth_date.year)
        name = surname + given
        # pypinyin is the slow part of the loop. For these surname and given-name lists it reads a name
        # character by character (checked for every combination), so each part's initials can be cached.
        for part in (surname, given):
            if part not in initials_cache:
                initials_cache[part] = name_initials(part)
        person = InsuredPerson(
            id_number=number,
            name=name,
            name_initials=initials_cache[surname] + initials_cache[given],
            sex="M" if male else "F",
            birth_date=birth_date,
            village=village,
            region_code=village.code,
            status=PersonStatus.ACTIVE,
            phone=_phone(rng),
            address=_address(rng, village),
        )
        if rng.random() < 0.85:
            bank_code, bin_, _ = rng.choices(BANKS, [w for *_, w in BANKS])[0]
            person.social_security_card_number = f"{rng.choice('ABCDEFGH')}{rng.randint(0, 99_999_999):08d}"
            person.bank_code = bank_code
            person.bank_account = f"{bin_}{rng.randint(0, 10**13 - 1):013d}"
        draft = PersonDraft(person=person)
        sixteenth = _add_years(birth_date, 16)
        roll = rng.random()
        if roll < 0.06 and age < 60:
            _make_pending(rng, draft)
        else:
            person.enrolled_on = _random_date(
                rng, max(ENROLMENT_START, sixteenth), REFERENCE_DATE - dt.timedelta(days=14)
            )
            person.created_at = _office_time(rng, person.enrolled_on)
            if roll > 0.97 and person.enrolled_on < REFERENCE_DATE - dt.timedelta(days=60):
                _make_cancelled(rng, draft, age)
            elif rng.random() < 0.04:
                group = rng.choices(list(GROUP_WEIGHTS), list(GROUP_WEIGHTS.values()))[0]
                certified_on = _random_date(rng, max(dt.date(2012, 1, 1), sixteenth), REFERENCE_DATE)
                draft.special_group = group
                draft.certified_on = certified_on
                draft.certificate_number = f"{COUNTY_SHORT_NAMES[village.code[:6]]}{GROUP_DOCUMENT[group]}〔{certified_on.year}〕{rng.randint(1, 999):03d}号"
        yield draft


def _phone(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.88:
        return f"{rng.choice(MOBILE_PREFIXES)}{rng.randint(0, 99_999_999):08d}"
    if roll < 0.96:
        return f"0519-8{rng.randint(0, 9_999_999):07d}"  # 常州 landline
    return ""


def _address(rng: random.Random, village: Region) -> str:
    township = village.parent.name if village.parent_id and village.parent else ""
    if village.name.endswith("社区"):
        return f"{township}{village.name}{rng.choice(ROADS)}{rng.randint(1, 388)}号"
    return f"{township}{village.name}{rng.randint(1, 18)}组{rng.randint(1, 96)}号"


def _make_pending(rng: random.Random, draft: PersonDraft) -> None:
    person = draft.person
    person.status = PersonStatus.PENDING
    submitted_on = REFERENCE_DATE - dt.timedelta(days=rng.randint(1, 20))
    draft.submitted_at = _office_time(rng, submitted_on)
    person.created_at = draft.submitted_at
    draft.entered_by_clerk = rng.random() < 0.3
    roll = rng.random()
    if roll < 0.12 and not draft.entered_by_clerk:
        draft.application_status = ApplicationStatus.RETURNED
        draft.return_reason = rng.choice(RETURN_REASONS)
        draft.reviewed_at = _office_time(rng, submitted_on + dt.timedelta(days=rng.randint(1, 2)))
    elif roll < 0.5:
        draft.application_status = ApplicationStatus.ACCEPTED
        draft.reviewed_at = _office_time(rng, submitted_on + dt.timedelta(days=rng.randint(1, 2)))
    else:
        draft.application_status = ApplicationStatus.SUBMITTED


def _make_cancelled(rng: random.Random, draft: PersonDraft, age: int) -> None:
    person = draft.person
    if age >= 60:
        reasons = {CancellationReason.DEATH: 80, CancellationReason.OTHER_PENSION: 15, CancellationReason.EMIGRATION: 5}
    else:
        reasons = {
            CancellationReason.TRANSFER_OUT: 50,
            CancellationReason.OTHER_PENSION: 30,
            CancellationReason.DEATH: 15,
            CancellationReason.EMIGRATION: 5,
        }
    draft.cancellation_reason = rng.choices(list(reasons), list(reasons.values()))[0]
    assert person.enrolled_on is not None
    event_date = _random_date(rng, person.enrolled_on + dt.timedelta(days=30), REFERENCE_DATE - dt.timedelta(days=30))
    person.status = PersonStatus.CANCELLED
    person.cancelled_on = event_date
    draft.cancel_submitted_at = _office_time(rng, event_date + dt.timedelta(days=rng.randint(3, 20)))


@contextmanager
def _given_timestamps(*models_and_fields: tuple[type[Model], str]) -> Iterator[None]:
    """Let bulk_create keep the timestamps we set instead of stamping 'now' (auto_now_add), so that
    submitted, reviewed and approved times read in order and the data depend on the seed alone."""
    fields = [model._meta.get_field(name) for model, name in models_and_fields]
    saved = [(f, f.auto_now_add) for f in fields if isinstance(f, DateTimeField)]
    for f, _ in saved:
        f.auto_now_add = False
    try:
        yield
    finally:
        for f, value in saved:
            f.auto_now_add = value


def _write_batch(drafts: list[PersonDraft], staff: Staff, seed_user: User | None) -> None:
    """Persons, their applications, events, special groups and the serial counters, in one transaction.

    bulk_create bypasses django-simple-history, so the first history row of every record is written here too:
    for the many persons loaded as already insured by one INSERT ... SELECT (building a second Python object
    per person doubled the load time), for the few others with bulk_create_with_history.
    """
    persons = [d.person for d in drafts]
    with transaction.atomic():
        _assign_insurance_numbers(persons)
        InsuredPerson.objects.bulk_create(persons, batch_size=BATCH_SIZE)
        registering = [d for d in drafts if d.application_status]
        for draft in registering:
            person = draft.person
            person._history_user = _entered_by(draft, staff)  # type: ignore[attr-defined]
            person._history_date = person.created_at  # type: ignore[attr-defined]
            person._change_reason = "参保登记申请"  # type: ignore[attr-defined]
        InsuredPerson.history.bulk_history_create([d.person for d in registering], batch_size=BATCH_SIZE)
        _copy_person_history(
            [d.person.pk for d in drafts if not d.application_status], user=seed_user, reason="演示数据：存量参保人"
        )
        applications: list[Application] = []
        events: list[ApplicationEvent] = []
        memberships: list[SpecialGroupMembership] = []
        for draft in drafts:
            if draft.application_status:
                applications.append(_registration(draft, staff, events))
            elif draft.cancellation_reason:
                applications.append(_cancellation(draft, staff, events))
            if draft.special_group:
                memberships.append(_membership(draft, staff))
        bulk_create_with_history(applications, Application, batch_size=BATCH_SIZE)
        for event in events:
            event.application_id = event.application.pk  # bulk_create set the pk after the event was built
        ApplicationEvent.objects.bulk_create(events, batch_size=BATCH_SIZE)
        bulk_create_with_history(memberships, SpecialGroupMembership, batch_size=BATCH_SIZE)


def _copy_person_history(person_ids: list[int], *, user: User | None, reason: str) -> None:
    """A '+' history row per person, copied by the database itself, dated when the person was enrolled."""
    if not person_ids:
        return
    history = InsuredPerson.history.model
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in history.tracked_fields)
    placeholders = ", ".join(["%s"] * len(person_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(history._meta.db_table)} "
            f"({columns}, history_date, history_change_reason, history_type, history_user_id) "
            f"SELECT {columns}, created_at, %s, '+', %s FROM {quote(InsuredPerson._meta.db_table)} "
            f"WHERE id IN ({placeholders})",
            [reason, user.pk if user else None, *person_ids],
        )


def _assign_insurance_numbers(persons: list[InsuredPerson]) -> None:
    """Insurance numbers are county + 8-digit serial, taken from the same counter approvals use, under its lock."""
    numbered = [p for p in persons if p.status != PersonStatus.PENDING]
    counties = sorted({p.region_code[:6] for p in numbered})
    if not counties:
        return
    InsuranceNumberCounter.objects.bulk_create(
        [InsuranceNumberCounter(county_code=c) for c in counties], ignore_conflicts=True
    )
    counters = {
        c.county_code: c
        for c in InsuranceNumberCounter.objects.select_for_update().filter(county_code__in=counties).order_by("pk")
    }
    for person in numbered:
        counter = counters[person.region_code[:6]]
        counter.last_serial += 1
        person.insurance_number = f"{counter.county_code}{counter.last_serial:08d}"
    for counter in counters.values():
        counter.save(update_fields=["last_serial"])


def _sync_counters_with_register() -> None:
    """Should numbers exist that the counter never handed out (a hand-made load), step past them."""
    with transaction.atomic():
        for county in COUNTIES:
            highest = InsuredPerson.objects.filter(insurance_number__startswith=county.code).aggregate(
                m=Max("insurance_number")
            )["m"]
            serial = int(highest[6:]) if highest and highest[6:].isdigit() else 0
            counter, _ = InsuranceNumberCounter.objects.select_for_update().get_or_create(county_code=county.code)
            if counter.last_serial < serial:
                counter.last_serial = serial
                counter.save(update_fields=["last_serial"])


def _entered_by(draft: PersonDraft, staff: Staff) -> User:
    village_code = draft.person.region_code
    if draft.entered_by_clerk:
        return staff.township_clerks[village_code[:9] + "000"][0]
    return staff.agents[village_code]


def _event(
    events: list[ApplicationEvent],
    application: Application,
    action: str,
    from_status: str,
    to_status: str,
    actor: User,
    at: dt.datetime,
    note: str = "",
) -> None:
    events.append(
        ApplicationEvent(
            application=application,
            action=action,
            from_status=from_status,
            to_status=to_status,
            actor=actor,
            at=at,
            note=note,
        )
    )


def _registration(draft: PersonDraft, staff: Staff, events: list[ApplicationEvent]) -> Application:
    person = draft.person
    township_code = person.region_code[:9] + "000"
    clerk, clerk2 = staff.township_clerks[township_code]
    entered_by = _entered_by(draft, staff)
    # Separation of duties: the clerk who typed the form is never the one who reviews it.
    reviewer = clerk2 if entered_by == clerk else clerk
    assert draft.submitted_at is not None
    application = Application(
        kind=ApplicationKind.REGISTER,
        person=person,
        region_code=person.region_code,
        status=draft.application_status,
        changes={
            "name": person.name,
            "id_number": person.id_number,
            "village": person.region_code,
            "phone": person.phone,
            "address": person.address,
            "social_security_card_number": person.social_security_card_number,
            "bank_code": person.bank_code,
            "bank_account": person.bank_account,
        },
        created_by=entered_by,
        created_at=draft.submitted_at,
    )
    application._history_user = entered_by  # type: ignore[attr-defined]
    application._history_date = draft.submitted_at  # type: ignore[attr-defined]
    application._change_reason = "录入参保登记表"  # type: ignore[attr-defined]
    _event(events, application, "submit", "", ApplicationStatus.SUBMITTED, entered_by, draft.submitted_at)
    if draft.application_status == ApplicationStatus.ACCEPTED:
        assert draft.reviewed_at is not None
        application.reviewed_by = reviewer
        application.reviewed_at = draft.reviewed_at
        _event(
            events,
            application,
            "accept",
            ApplicationStatus.SUBMITTED,
            ApplicationStatus.ACCEPTED,
            reviewer,
            draft.reviewed_at,
            "材料齐全，同意上报。",
        )
    elif draft.application_status == ApplicationStatus.RETURNED:
        assert draft.reviewed_at is not None
        application.return_reason = draft.return_reason
        _event(
            events,
            application,
            "return",
            ApplicationStatus.SUBMITTED,
            ApplicationStatus.RETURNED,
            reviewer,
            draft.reviewed_at,
            draft.return_reason,
        )
    return application


def _cancellation(draft: PersonDraft, staff: Staff, events: list[ApplicationEvent]) -> Application:
    person = draft.person
    agent = staff.agents[person.region_code]
    reviewer = staff.township_clerks[person.region_code[:9] + "000"][0]
    approver = staff.approvers[person.region_code[:6] + "000000"]
    assert draft.cancel_submitted_at is not None
    submitted = draft.cancel_submitted_at
    reviewed = submitted + dt.timedelta(days=1)
    decided = reviewed + dt.timedelta(days=1)
    application = Application(
        kind=ApplicationKind.CANCEL,
        person=person,
        region_code=person.region_code,
        status=ApplicationStatus.APPROVED,
        cancellation_reason=draft.cancellation_reason,
        event_date=person.cancelled_on,
        reason=CANCEL_NOTES[CancellationReason(draft.cancellation_reason)],
        created_by=agent,
        created_at=submitted,
        reviewed_by=reviewer,
        reviewed_at=reviewed,
        decided_by=approver,
        decided_at=decided,
    )
    application._history_user = approver  # type: ignore[attr-defined]
    application._history_date = decided  # type: ignore[attr-defined]
    application._change_reason = "县级审批通过"  # type: ignore[attr-defined]
    _event(events, application, "submit", "", ApplicationStatus.SUBMITTED, agent, submitted)
    _event(events, application, "accept", ApplicationStatus.SUBMITTED, ApplicationStatus.ACCEPTED, reviewer, reviewed)
    _event(events, application, "approve", ApplicationStatus.ACCEPTED, ApplicationStatus.APPROVED, approver, decided)
    return application


def _membership(draft: PersonDraft, staff: Staff) -> SpecialGroupMembership:
    person = draft.person
    clerk = staff.township_clerks[person.region_code[:9] + "000"][0]
    assert draft.certified_on is not None
    recorded_at = _office_time(random.Random(person.id_number), draft.certified_on + dt.timedelta(days=7))
    membership = SpecialGroupMembership(
        person=person,
        group=draft.special_group,
        certifying_department=CERTIFYING_DEPARTMENTS[SpecialGroup(draft.special_group)],
        certificate_number=draft.certificate_number,
        certified_on=draft.certified_on,
        recorded_by=clerk,
        recorded_at=recorded_at,
    )
    membership._history_user = clerk  # type: ignore[attr-defined]
    membership._history_date = recorded_at  # type: ignore[attr-defined]
    return membership


def load_persons(
    *,
    target: int,
    seed: int,
    regions: dict[str, Region],
    staff: Staff,
    progress: Callable[[int, int, float], None] | None = None,
) -> int:
    """Add generated persons until the register holds ``target``; return how many were added."""
    existing = InsuredPerson.objects.count()
    if existing >= target:
        return 0
    _sync_counters_with_register()
    villages = [r for r in regions.values() if r.level == RegionLevel.VILLAGE]
    for village in villages:  # addresses name the township: fetch the parents once, not per person
        village.parent = regions.get(village.code[:9] + "000")
    taken_ids = set(InsuredPerson.objects.values_list("id_number", flat=True))
    seed_user = User.objects.filter(username="admin").first()
    started = time.monotonic()
    added = 0
    drafts = generate_persons(
        seed=seed, start=existing, count=target - existing, villages=villages, taken_ids=taken_ids
    )
    with _given_timestamps(
        (InsuredPerson, "created_at"),
        (Application, "created_at"),
        (ApplicationEvent, "at"),
        (SpecialGroupMembership, "recorded_at"),
    ):
        for batch in _batches(drafts, BATCH_SIZE):
            _write_batch(batch, staff, seed_user)
            added += len(batch)
            if progress:
                progress(existing + added, target, time.monotonic() - started)
    _analyze(InsuredPerson, InsuredPerson.history.model, Application, ApplicationEvent, SpecialGroupMembership)
    return added


def _analyze(*models: type[Model]) -> None:
    """Refresh the planner's statistics after a bulk load: until autovacuum gets round to it, PostgreSQL
    believes the tables are nearly empty and picks plans that are slow on the real numbers."""
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def _batches(items: Iterable[PersonDraft], size: int) -> Iterator[list[PersonDraft]]:
    batch: list[PersonDraft] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def seed_demo_data(
    *,
    persons: int = DEFAULT_PERSONS,
    seed: int = DEFAULT_SEED,
    progress: Callable[[int, int, float], None] | None = None,
) -> int:
    """The whole demo: tree, agencies, staff, and persons up to ``persons``. Returns persons added."""
    regions = ensure_regions()
    agencies = ensure_agencies(regions)
    staff = ensure_staff(regions, agencies)
    return load_persons(target=persons, seed=seed, regions=regions, staff=staff, progress=progress)


class Command(BaseCommand):
    help = "创建演示数据：常州市（2016年并轨前）的区划、经办机构、各岗位工作人员和参保人。可重复运行。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--persons", type=int, default=DEFAULT_PERSONS, help=f"参保人总数（默认 {DEFAULT_PERSONS}）"
        )
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"随机种子（默认 {DEFAULT_SEED}）")

    def handle(self, *args: object, persons: int, seed: int, **options: object) -> None:
        if persons < 0:
            self.stderr.write("--persons 不能为负数。")
            raise SystemExit(2)
        started = time.monotonic()

        def progress(done: int, target: int, seconds: float) -> None:
            if target >= 20000:
                self.stdout.write(f"  已写入参保人 {done}/{target}（{seconds:.1f} 秒）")

        added = seed_demo_data(persons=persons, seed=seed, progress=progress)
        # Contribution policy, rates and a few years of contributions for those who have none yet
        # (here, not in seed_demo_data: the person-search benchmark needs no money).
        paid = seed_contributions(
            reference_date=REFERENCE_DATE, seed_user=User.objects.filter(username="admin").first()
        )
        benefits = self.seed_benefits(new_contributions=paid > 0)
        # After the benefits: a settled deduction posts contributions of the reference year, which needs the past
        # years' interest settled first.
        bank = self.seed_bank()
        merger = self.seed_merger()
        # Last: the archives file what every other app's demo made.
        archives = self.seed_archives()
        total = InsuredPerson.objects.count()
        if added:
            self.stdout.write(
                self.style.SUCCESS(
                    f"演示数据就绪：新增参保人 {added} 名，共 {total} 名（{time.monotonic() - started:.1f} 秒）。"
                )
            )
        else:
            self.stdout.write(self.style.SUCCESS(f"演示数据已存在：共有参保人 {total} 名，未新增。"))
        if paid:
            self.stdout.write(f"新增缴费记录 {paid} 笔（含个人账户及明细）。")
        if benefits is not None:
            self.print_benefits(benefits)
        if bank is not None:
            self.print_bank(bank)
        if merger is not None:
            self.stdout.write(
                f"并轨项目（草稿，待演示各步骤）：{merger.name}，切换日期 {merger.cutover_date:%Y-%m-%d}。"
            )
        if archives is not None:
            self.print_archives(archives)
        self.seed_summaries()
        self.print_logins()

    def seed_summaries(self) -> None:
        """The dashboards and reports read the nightly summaries: rebuild the last 24 months up to this one, so the
        demo has its charts before the first night (a rerun replaces them whole)."""
        started = time.monotonic()
        last = month_start(timezone.localdate())
        back = last.year * 12 + last.month - 1 - (DEMO_SUMMARY_MONTHS - 1)
        runs = summaries_rebuild(first=dt.date(back // 12, back % 12 + 1, 1), last=last)
        self.stdout.write(
            f"月度汇总：{runs[0].month:%Y-%m} 至 {runs[-1].month:%Y-%m} 共 {len(runs)} 个月，"
            f"{max(run.villages for run in runs)} 个村（社区），{time.monotonic() - started:.1f} 秒。"
        )

    def seed_benefits(self, *, new_contributions: bool) -> BenefitsDemo | None:
        """Parameters, settled interest, and on the demo line recipients, payrolls and open claims."""
        users = {u.username: u for u in User.objects.filter(username__in=[d.username for d in DEMO_LOGINS])}
        try:
            staff = DemoStaff(
                village_agent=users["village_agent"],
                township_clerk=users["township_clerk"],
                township_clerk2=users["township_clerk2"],
                county_approver=users["county_approver"],
                city_supervisor=users["city_supervisor"],
                fund_officer=users["city_fund_officer"],
            )
        except KeyError as missing:  # a login renamed or removed by hand: leave the benefits out
            self.stderr.write(f"未找到演示账号 {missing}，未生成待遇演示数据。")
            return None
        return seed_benefits(
            reference_date=REFERENCE_DATE,
            staff=staff,
            village_code=DEMO_VILLAGE,
            township_code=DEMO_TOWNSHIP,
            new_contributions=new_contributions,
        )

    def seed_bank(self) -> BankDemo | None:
        """Two partner banks with a key each, the fund accounts, a settled DEDUCT batch and one awaiting the bank."""
        users = {u.username: u for u in User.objects.filter(username__in=["admin", "city_fund_officer"])}
        if len(users) < 2:
            self.stderr.write("未找到演示账号 admin 或 city_fund_officer，未生成银行演示数据。")
            return None
        return seed_bank(
            reference_date=REFERENCE_DATE,
            admin=users["admin"],
            fund_officer=users["city_fund_officer"],
            village_code=DEMO_VILLAGE,
            issue_deduct=deduct_batch_issue,
        )

    def seed_merger(self) -> MergerProject | None:
        """A draft merger 新北区 → 常州市本级 with the identity place mapping, its steps left to the demo user."""
        supervisor = User.objects.filter(username="city_supervisor").first()
        if supervisor is None:
            self.stderr.write("未找到演示账号 city_supervisor，未生成并轨演示项目。")
            return None
        return seed_merger(reference_date=REFERENCE_DATE, city_supervisor=supervisor)

    def seed_archives(self) -> ArchivesDemo | None:
        """The backfill of the demo's records, archive rooms, placed papers, scans, loans, a hand-over, a review."""
        names = ("village_agent", "township_clerk", "township_clerk2", "county_clerk")
        users = {u.username: u for u in User.objects.select_related("agency__region").filter(username__in=names)}
        if len(users) < len(names):
            self.stderr.write(f"未找到演示账号 {'、'.join(n for n in names if n not in users)}，未生成档案演示数据。")
            return None
        staff = ArchiveStaff(**{name: users[name] for name in names})
        return seed_archives(
            reference_date=REFERENCE_DATE, staff=staff, township_code=DEMO_TOWNSHIP, village_code=DEMO_VILLAGE
        )

    def print_archives(self, report: ArchivesDemo) -> None:
        self.stdout.write(
            f"档案：补录归档 {report.backfilled_total} 件，手工归档 {report.filed_by_hand} 件，上架 {report.placed} 件，"
            f"扫描件 {report.scans} 份，借阅 {report.loans} 笔，到期鉴定 {report.reviews} 件"
            + (
                f"，交接#{report.handover.pk}（{report.handover.get_status_display()}）"
                if report.handover is not None
                else ""
            )
            + f"（{report.seconds:.1f} 秒）。"
        )

    def print_bank(self, report: BankDemo) -> None:
        if report.partners:
            self.stdout.write(f"新增合作银行：{'、'.join(report.partners)}；命名基金专户 {report.accounts} 个。")
        for batch in report.batches:
            self.stdout.write(f"银行批次 {batch}")
        if report.keys:
            self.stdout.write(self.style.WARNING("银行接口密钥（只显示这一次，系统只保存其摘要，请妥善保存）："))
            for name, key in report.keys.items():
                self.stdout.write(f"  {pad(name, 24)} {key}")

    def print_benefits(self, report: BenefitsDemo) -> None:
        if report.parameters or report.settled_years:
            self.stdout.write(f"新增待遇计发参数 {report.parameters} 条，结息 {report.settled_years} 个统筹区年度。")
        if report.awards:
            awards = "、".join(f"{label} {count} 人" for label, count in report.awards.items())
            payrolls = "、".join(report.payrolls) or "无"
            state = "新增" if report.written else "已有"
            self.stdout.write(
                f"{state}待遇（奔牛镇）：{awards}；已确认月度发放 {payrolls}；待办待遇申请 {report.open_claims} 件。"
            )
        if report.turning_60:
            self.stdout.write(f"下月年满60周岁：{report.turning_60}。")

    def print_logins(self) -> None:
        users = User.objects.select_related("agency").filter(username__in=[d.username for d in DEMO_LOGINS])
        by_name = {u.username: u for u in users}
        self.stdout.write("")
        self.stdout.write(f"演示账号（密码均为 {DEMO_PASSWORD}）：")
        for login in DEMO_LOGINS:
            user = by_name.get(login.username)
            if user is None:
                continue
            agency = user.agency.name if user.agency else ""
            self.stdout.write(
                f"  {pad(login.username, 20)} {pad(str(Role(login.role).label), 16)} {pad(user.display_name, 8)} {agency}"
            )
        self.stdout.write(
            "其他机构的工作人员：用户名为“区划代码_岗位”，如 320411_approver、320481101_clerk，密码同上。"
        )


def pad(text: str, width: int) -> str:
    """Pad to a terminal width: a Chinese character takes two columns."""
    columns = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(width - columns, 0)
