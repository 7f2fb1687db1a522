"""``python manage.py merger <verb> --actor USERNAME ...``: each step of a district merger, for operators who
script it. Every verb runs its service synchronously (the same service the pages queue), prints a progress line
and its outcome, and on a refusal exits non-zero with the service's Chinese message.

    merger create --actor sup --name 新北区并入市本级 --source 320411 --target 320400 --cutover 2027-01-01 \
        --tiers-until 2027-06-30 --deemed-until 2027-01-01 [--towns 320412101,320412102] [--default-tier 300]
    merger settle --actor sup --project 1          merger freeze --actor sup --project 1 [--lift]
    merger map --actor sup --project 1 --identity | --file mapping.csv
    merger export --actor sup --project 1 [--out package.zip]
    merger testload --actor sup --project 1 --package package.zip | --package-id 3
    merger import --actor sup --project 1 [--package-id 3]
    merger transfer --actor sup --project 1        merger cutover --actor sup --project 1
    merger status --actor sup --project 1
"""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agencies.errors import DomainError
from agencies.models import PoolingRegion
from agencies.scope import scoped
from migration import export, freezing, importer, lists, mapping, report, settle, testload, transfer
from migration import services as merger
from migration.models import MergerPackage, MergerProject
from migration.selectors import project_packages, steps_in_order

VERBS = ("create", "settle", "freeze", "map", "export", "testload", "import", "transfer", "cutover", "status")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"日期格式应为 年-月-日：{text}") from None


class Command(BaseCommand):
    help = "并轨各步骤（新建、结算核对、封存、区划对照、导出、试导入、正式导入、基金划转、系统切换、状态）。"

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="verb", required=True)
        parsers = {verb: sub.add_parser(verb) for verb in VERBS}
        for verb, each in parsers.items():
            each.add_argument("--actor", required=True, help="操作人用户名（市级监管）")
            if verb != "create":
                each.add_argument("--project", type=int, required=True, help="并轨项目编号")
        create = parsers["create"]
        create.add_argument("--name", required=True)
        create.add_argument("--source", required=True, help="源统筹区代码")
        create.add_argument("--target", required=True, help="目标统筹区代码")
        create.add_argument("--cutover", required=True, help="切换日期 YYYY-MM-DD")
        create.add_argument("--tiers-until", required=True, help="原档次执行至 YYYY-MM-DD")
        create.add_argument("--deemed-until", required=True, help="视同缴费年限认定截止 YYYY-MM-DD")
        create.add_argument("--towns", default="", help="只并入的乡镇（9位代码，逗号分隔）")
        create.add_argument("--default-tier", default="", help="默认档次（元）")
        create.add_argument("--no-fold-pooled", action="store_true", help="统筹账户不并入个人账户")
        parsers["freeze"].add_argument("--lift", action="store_true", help="解除封存")
        how = parsers["map"].add_mutually_exclusive_group(required=True)
        how.add_argument("--identity", action="store_true", help="代码不变的按原代码对照")
        how.add_argument("--file", help="对照文件（.csv 或 .xlsx）")
        parsers["export"].add_argument("--out", help="另存数据包到此路径")
        which = parsers["testload"].add_mutually_exclusive_group(required=True)
        which.add_argument("--package", help="数据包文件（.zip），先上传再试导入")
        which.add_argument("--package-id", type=int, help="已有数据包的编号")
        parsers["import"].add_argument(
            "--package-id", type=int, help="数据包编号（默认：最近一次试导入无阻断问题的数据包）"
        )

    def handle(self, *args, verb: str, actor: str, **options) -> None:
        user = get_user_model().objects.select_related("agency__region").filter(username=actor).first()
        if user is None:
            raise CommandError(f"未找到用户 {actor}。")
        try:
            if verb == "create":
                self.create(user, options)
                return
            project = scoped(MergerProject.objects.all(), user).filter(pk=options["project"]).first()
            if project is None:
                raise CommandError(f"未找到并轨项目 {options['project']}，或不在 {actor} 的管辖范围内。")
            merger.require_merger_user(user, project)
            getattr(self, f"verb_{verb}")(user, project, options)
        except DomainError as error:
            raise CommandError(error.message) from None

    def line(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def progress(self, *args, **kwargs) -> None:
        """The progress line of a long step: whatever the service reports (done, total, phase)."""
        shown = [str(value) for value in (*args, *kwargs.values()) if value not in (None, "")]
        self.line("  " + " ".join(shown))

    # --- verbs ------------------------------------------------------------------------------------------

    def create(self, user, options: dict) -> None:
        regions = {r.code: r for r in PoolingRegion.objects.filter(code__in=[options["source"], options["target"]])}
        missing = [code for code in (options["source"], options["target"]) if code not in regions]
        if missing:
            raise CommandError(f"未找到统筹区：{'、'.join(missing)}。")
        try:
            tier = Decimal(options["default_tier"]) if options["default_tier"] else None
        except InvalidOperation:
            raise CommandError(f"默认档次应为金额：{options['default_tier']}") from None
        project = merger.project_create(
            actor=user,
            name=options["name"],
            source_pooling_region=regions[options["source"]],
            target_pooling_region=regions[options["target"]],
            cutover_date=_date(options["cutover"]),
            source_tiers_until=_date(options["tiers_until"]),
            deemed_years_until=_date(options["deemed_until"]),
            source_towns=[t.strip() for t in options["towns"].split(",") if t.strip()] or None,
            default_tier=tier,
            fold_pooled=not options["no_fold_pooled"],
        )
        self.line(self.style.SUCCESS(f"已新建并轨项目 {project.pk}：{project.name}"))

    def verb_settle(self, user, project: MergerProject, options: dict) -> None:
        self.line("核对源统筹区结算……")
        items = settle.settle_confirm(actor=user, project=project)
        for item in items:
            self.line(f"  {'✓' if item.ok else '✗'} {item.label}：{item.count}（{item.detail}）")
        pending = [item.detail for item in items if not item.ok]
        if pending:
            raise CommandError("结算核对未通过，尚未完成：" + "；".join(pending) + "。")
        self.line(self.style.SUCCESS("已确认源统筹区结算完成。"))

    def verb_freeze(self, user, project: MergerProject, options: dict) -> None:
        if options["lift"]:
            freezing.freeze_lift(actor=user, project=project)
            self.line(self.style.SUCCESS("已解除封存。正式导入前须重新封存，并重新导出、试导入。"))
        else:
            freezing.freeze_apply(actor=user, project=project)
            self.line(self.style.SUCCESS("已封存源统筹区数据。"))

    def verb_map(self, user, project: MergerProject, options: dict) -> None:
        if options["identity"]:
            mapping.mapping_identity(actor=user, project=project)
        else:
            path = Path(options["file"])
            if not path.is_file():
                raise CommandError(f"未找到文件：{path}")
            mapping.mapping_load(actor=user, project=project, content=path.read_bytes(), file_name=path.name)
        left = mapping.source_codes_unmapped(project)
        self.line(self.style.SUCCESS(f"区划对照完成，尚未对照 {len(left)} 个代码。"))
        if left:
            self.line("  " + "、".join(left[:50]) + ("……" if len(left) > 50 else ""))

    def verb_export(self, user, project: MergerProject, options: dict) -> None:
        self.line("导出数据包……")
        package = export.package_export(actor=user, project=project, progress=self.progress)
        self.line(self.style.SUCCESS(f"已导出数据包 {package.pk}：{package.file_name}，{package.size} 字节"))
        self.line(f"SHA-256 {package.sha256}")
        if options.get("out"):
            with package.file.open("rb") as source, open(options["out"], "wb") as target:
                shutil.copyfileobj(source, target, 1024 * 1024)
            self.line(f"已另存到 {options['out']}")

    def _package(self, user, project: MergerProject, package_id: int) -> MergerPackage:
        package = scoped(MergerPackage.objects.filter(project=project), user).filter(pk=package_id).first()
        if package is None:
            raise CommandError(f"项目 {project.pk} 没有数据包 {package_id}。")
        return package

    def verb_testload(self, user, project: MergerProject, options: dict) -> None:
        if options.get("package"):
            path = Path(options["package"])
            if not path.is_file():
                raise CommandError(f"未找到文件：{path}")
            with path.open("rb") as handle:
                package = testload.package_upload(
                    actor=user, project=project, uploaded_file=File(handle, name=path.name)
                )
            self.line(f"已上传数据包 {package.pk}：{package.file_name}")
        else:
            package = self._package(user, project, options["package_id"])
        load = testload.testload_start(actor=user, project=project, package=package)
        self.line(f"试导入 {load.pk}：读取并检查数据包……")
        load = testload.testload_run(load.pk)
        for item in report.findings_summary(load):
            severity = "阻断" if item["severity"] == "blocking" else "提示"
            self.line(f"  [{severity}] {item['title']}：{item['count']}")
        if load.error:
            raise CommandError(f"试导入 {load.pk} 中断：{load.error}")
        if load.blocking_count:
            raise CommandError(f"试导入 {load.pk} 发现阻断问题 {load.blocking_count} 个，不能正式导入。")
        self.line(self.style.SUCCESS(f"试导入 {load.pk} 完成：无阻断问题，提示 {load.warning_count} 个。"))

    def verb_import(self, user, project: MergerProject, options: dict) -> None:
        if options.get("package_id"):
            package = self._package(user, project, options["package_id"])
        else:
            package = next(
                (
                    p
                    for p in project_packages(project)
                    if not hasattr(p, "import_run") and (last := p.testloads.order_by("-id").first()) and last.clean
                ),
                None,
            )
            if package is None:
                raise CommandError("没有试导入无阻断问题、尚未导入的数据包。")
        run = importer.import_start(actor=user, project=project, package=package)
        self.line(f"正式导入 {run.pk}：数据包 {package.file_name}……")
        run = importer.import_run(run.pk)
        if run.error or run.status != "done":
            raise CommandError(f"正式导入 {run.pk} 中断：{run.error}")
        summary = lists.lists_summary(project)
        self.line(
            f"1月代扣名单 {summary.contributors} 人（无银行账号 {summary.contributors_without_bank} 人），"
            f"待遇发放名单 {summary.recipients} 人，合计 {summary.payout_total} 元。"
        )
        self.line(
            self.style.SUCCESS(
                f"正式导入完成：新建 {run.persons_created} 人，迁入 {run.persons_rehomed} 人，待遇 {run.awards} 人；"
                f"余额合计 {run.balance_imported} 元（数据包 {run.balance_expected} 元）。"
            )
        )

    def verb_transfer(self, user, project: MergerProject, options: dict) -> None:
        transfer.fund_transfer(actor=user, project=project)
        record = MergerProject.objects.get(pk=project.pk).fund_transfer
        self.line(self.style.SUCCESS(f"已划转基金 {record.amount} 元，凭证号 {record.reference}。"))

    def verb_cutover(self, user, project: MergerProject, options: dict) -> None:
        transfer.cutover(actor=user, project=project)
        self.line(self.style.SUCCESS(f"系统切换完成：自 {project.cutover_date:%Y-%m-%d} 起源统筹区不再受理新业务。"))

    def verb_status(self, user, project: MergerProject, options: dict) -> None:
        self.line(
            f"{project.pk} {project.name}：{project.source_pooling_region.name} → {project.target_pooling_region.name}"
        )
        for number, row in enumerate(steps_in_order(project), start=1):
            who = row.actor.display_name if row.actor else ""
            when = f"{row.finished_at or row.started_at:%Y-%m-%d %H:%M}" if (row.finished_at or row.started_at) else ""
            progress = f" {row.percent}%" if row.state == "running" else ""
            self.line(
                f"  {number}. {row.get_step_display()}：{row.get_state_display()}{progress} {who} {when}".rstrip()
            )
            if row.summary:
                self.line(f"     {row.summary}")
            if row.error:
                self.line(f"     失败原因：{row.error}")
