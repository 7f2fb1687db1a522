"""``python manage.py bench_person_search [--persons 100000]``: how fast the person search answers.

Tops the register up to N persons with the demo seed (the same generator ``seed_demo`` uses), then times
``enrollment.selectors.person_search`` for each kind of query a clerk types, as the list page runs it:
the first page (50 rows) and the count. Prints median and p95 in milliseconds; asserts nothing.
"""

import math
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from agencies.models import User
from enrollment.models import InsuredPerson
from enrollment.selectors import person_queryset, person_search
from portal.management.commands.seed_demo import DEFAULT_SEED, pad, seed_demo_data

PAGE_SIZE = 50


@dataclass(frozen=True)
class QueryKind:
    label: str
    make: Callable[[InsuredPerson], str | None]  # the text a clerk would type to find this person


KINDS = (
    QueryKind("身份证号（完整）", lambda p: p.id_number),
    QueryKind("身份证号前10位", lambda p: p.id_number[:10]),
    QueryKind("保险编号（完整）", lambda p: p.insurance_number),
    QueryKind("姓名（完整）", lambda p: p.name),
    QueryKind("姓名的一部分", lambda p: p.name[1:] if len(p.name) > 1 else p.name),
    QueryKind("拼音首字母", lambda p: p.name_initials),
)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]  # nearest rank


class Command(BaseCommand):
    help = "基准测试：参保人查询（按身份证号、保险编号、姓名、拼音首字母）的响应时间。只打印结果，不做断言。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--persons", type=int, default=100_000, help="参保人总数，不足时用演示数据补足")
        parser.add_argument("--repeat", type=int, default=20, help="每类查询的次数（每次查不同的人）")
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="演示数据与抽样的随机种子")
        parser.add_argument(
            "--user",
            action="append",
            dest="users",
            help="以哪个工作人员的身份查询，可重复（默认 county_clerk 和 city_supervisor）",
        )

    def handle(
        self, *args: object, persons: int, repeat: int, seed: int, users: list[str] | None, **options: object
    ) -> None:
        if repeat < 1:
            raise CommandError("--repeat 至少为 1。")
        existing = InsuredPerson.objects.count()
        if existing < persons:
            self.stdout.write(f"参保人 {existing} 名，补足到 {persons} 名……")
            started = time.monotonic()
            seed_demo_data(persons=persons, seed=seed, progress=self._progress)
            self.stdout.write(f"补足完成（{time.monotonic() - started:.1f} 秒）。")
        total = InsuredPerson.objects.count()
        self.stdout.write(f"数据库：{connection.vendor}，参保人 {total} 名，每类查询 {repeat} 次，时间单位为毫秒。")
        for username in users or ["county_clerk", "city_supervisor"]:
            user = User.objects.select_related("agency__region").filter(username=username).first()
            if user is None:
                raise CommandError(f"找不到工作人员 {username}，请先运行 seed_demo。")
            self._bench_user(user, repeat=repeat, seed=seed)

    def _progress(self, done: int, target: int, seconds: float) -> None:
        self.stdout.write(f"  已写入参保人 {done}/{target}（{seconds:.1f} 秒）")

    def _bench_user(self, user: User, *, repeat: int, seed: int) -> None:
        in_scope = person_queryset(user=user)
        ids = list(in_scope.order_by().values_list("pk", flat=True))
        if not ids:
            raise CommandError(f"{user.username} 的管辖范围内没有参保人。")
        rng = random.Random(seed)
        # Insurance numbers are only on enrolled persons; draw from those so every kind has `repeat` samples.
        numbered = list(in_scope.order_by().filter(insurance_number__isnull=False).values_list("pk", flat=True))
        sample_ids = rng.sample(ids, min(repeat, len(ids)))
        numbered_ids = rng.sample(numbered, min(repeat, len(numbered)))
        samples = {p.pk: p for p in InsuredPerson.objects.filter(pk__in=[*sample_ids, *numbered_ids])}
        region = user.agency.region.full_name() if user.agency else "全部"
        self.stdout.write("")
        self.stdout.write(f"{user.username}（{region}，管辖范围内 {len(ids)} 名）")
        header = ["匹配数", "首页中位", "首页p95", "计数中位", "计数p95", "合计中位", "合计p95"]
        self.stdout.write("  " + pad("查询类型", 20) + "".join(pad(h, 10) for h in header))
        list(person_search(user=user, q="")[:1])  # open the connection and warm the caches once
        for kind in KINDS:
            chosen = numbered_ids if kind.label.startswith("保险编号") else sample_ids
            page_ms: list[float] = []
            count_ms: list[float] = []
            matches: list[int] = []
            for pk in chosen:
                q = kind.make(samples[pk])
                if not q:
                    continue
                qs = person_search(user=user, q=q)
                started = time.perf_counter()
                list(qs[:PAGE_SIZE])
                paged = time.perf_counter()
                matches.append(qs.count())
                counted = time.perf_counter()
                page_ms.append((paged - started) * 1000)
                count_ms.append((counted - paged) * 1000)
            if not page_ms:
                continue
            totals = [a + b for a, b in zip(page_ms, count_ms, strict=True)]
            figures = [
                f"{statistics.median(matches):.0f}",
                *(f"{v:.1f}" for v in (statistics.median(page_ms), _p95(page_ms))),
                *(f"{v:.1f}" for v in (statistics.median(count_ms), _p95(count_ms))),
                *(f"{v:.1f}" for v in (statistics.median(totals), _p95(totals))),
            ]
            self.stdout.write("  " + pad(kind.label, 20) + "".join(pad(f, 10) for f in figures))
