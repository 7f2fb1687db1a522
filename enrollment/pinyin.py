from pypinyin import Style, lazy_pinyin


def name_initials(name: str) -> str:
    """Lower-case pinyin initials of a Chinese name, e.g. 张三丰 → zsf; other characters kept as typed."""
    return "".join(part[:1] for part in lazy_pinyin(name, style=Style.FIRST_LETTER, errors="default")).lower()
