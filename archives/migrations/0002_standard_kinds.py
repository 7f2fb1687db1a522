from django.db import migrations

# The standard kinds as they stood when this migration was written (archives.kinds may grow later; a migration
# must not change when it does).
KINDS = [
    ("registration", "01", "参保登记表", 0, "居民本人签字的参保登记表"),
    ("change", "02", "变更登记表", 0, "参保信息变更登记表及证明材料"),
    ("cancellation", "03", "注销登记表", 0, "注销登记表及死亡、丧失国籍等证明"),
    ("back_payment", "04", "保费补缴申请表", 100, "补缴申请及补缴记录"),
    ("contribution_roll", "05", "个人缴费明细表/汇总表", 100, "按村、年度的个人缴费明细与汇总"),
    ("collective_subsidy", "06", "集体补助明细表/汇总表", 100, "村集体补助的人员明细与汇总"),
    ("back_payment_roll", "07", "补缴费明细表/汇总表", 100, "按村、年度的补缴明细与汇总"),
    ("claim", "08", "待遇申请表", 0, "养老金待遇领取申请表及核定表"),
    ("disability_aid", "09", "残疾人缴费补助申请表", 100, "重度残疾人代缴保费的申请与认定"),
    ("payout_roll", "10", "待遇发放花名册", 30, "每月养老金发放名册"),
    ("bank_receipt", "11", "银行回执", 30, "银行代扣、代发结果回执"),
    ("merger_package", "12", "并轨数据包", 0, "区划调整并轨时的数据包及其校验值"),
    ("annual_report", "13", "年度报表", 0, "年度统计报表与决算"),
    ("monthly_report", "14", "月度、季度报表", 10, "月度、季度统计报表"),
    ("handed_over", "15", "并轨移交档案", 0, "区划调整后由原统筹区移交的档案"),
]


def load(apps, schema_editor):
    ArchiveKind = apps.get_model("archives", "ArchiveKind")
    for code, number, name, retention, description in KINDS:
        ArchiveKind.objects.update_or_create(
            code=code, defaults={"number": number, "name": name, "retention": retention, "description": description}
        )


def unload(apps, schema_editor):
    apps.get_model("archives", "ArchiveKind").objects.filter(code__in=[kind[0] for kind in KINDS]).delete()


class Migration(migrations.Migration):
    dependencies = [("archives", "0001_initial")]

    operations = [migrations.RunPython(load, unload)]
