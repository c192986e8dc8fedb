"""Company names as market regulation reads them (《企业名称登记管理规定》 2021 and its 实施办法):
行政区划 + 字号 + 行业或经营特点 + 组织形式, in that order, e.g. 济南市历下区 + 泉智 + 信息科技 + 有限公司.

``parse_name`` splits a name into those four parts or raises ``NameRefused`` naming the part that
is wrong. It judges the NFKC form with invisible and format characters refused, so that a
zero-width joiner cannot hide a restricted word or make a taken name look new. Uniqueness is
judged on ``CompanyName.key``: the same 字号 in the same industry within a division is taken,
whatever the division prefix or legal form around it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

FORMS = ("股份有限公司", "有限责任公司", "有限公司")  # longest first
CITY = "济南"
# Words that need the State Council's (or a higher registry's) approval; refused here with the reason.
RESTRICTED = ("中国", "中华", "中央", "全国", "国家", "国际")
# 行业或经营特点: the industry terms this registry accepts (a catalogue excerpt, longest first when matched).
INDUSTRIES = (
    "信息科技",
    "信息技术",
    "网络科技",
    "网络技术",
    "软件开发",
    "软件",
    "电子商务",
    "数据服务",
    "人工智能",
    "科技",
    "技术服务",
    "电子科技",
    "生物科技",
    "医药科技",
    "医药",
    "新能源",
    "环保科技",
    "智能科技",
    "电力科技",
    "电网科技",
    "教育科技",
    "教育咨询",
    "文化传媒",
    "传媒",
    "广告",
    "设计",
    "咨询",
    "管理咨询",
    "企业管理",
    "商贸",
    "贸易",
    "进出口",
    "食品销售",
    "食品",
    "餐饮管理",
    "餐饮",
    "农业",
    "物流",
    "供应链管理",
    "建筑工程",
    "建筑",
    "装饰工程",
    "房地产开发",
    "物业管理",
    "机械设备",
    "汽车服务",
    "服装",
    "实业",
    "投资",
)
TRADE_NAME_CHARS = (2, 8)
_HAN = re.compile(r"^[\u4e00-\u9fff]+$")


class NameRefused(ValueError):
    """A name the registry refuses; ``part`` names what is wrong (division, trade_name,
    industry, form, order, restricted, characters)."""

    def __init__(self, part: str, message: str):
        super().__init__(message)
        self.part = part


@dataclass(frozen=True)
class CompanyName:
    name: str  # the NFKC form, as registered
    division: str  # the name's division prefix, e.g. 济南市历下区
    trade_name: str  # 字号
    industry: str  # 行业或经营特点
    form: str  # 组织形式

    @property
    def key(self) -> str:
        """What must be unique within a division: the 字号 in its industry."""
        return f"{self.trade_name}|{self.industry}"


def normalise(name: str) -> str:
    """NFKC, after refusing control, format (zero-width, bidi), private-use and unassigned characters."""
    name = unicodedata.normalize("NFKC", name)
    for ch in name:
        if unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs", "Cn"):
            raise NameRefused(
                "characters", f"company name contains an invisible or control character (U+{ord(ch):04X})"
            )
    return name


def _division_prefixes(district: str) -> tuple[str, ...]:
    """The prefixes a company of this district may use (a district carries its city), longest first."""
    own = (f"{CITY}市{district}", f"{CITY}{district}") if district else ()
    return (*own, f"{CITY}市", CITY)


def parse_name(raw: str, district: str, other_districts: tuple[str, ...] = ()) -> CompanyName:
    """Split ``raw`` into its four parts for a company registering in ``district`` (e.g. 历下区),
    or refuse naming the part. ``other_districts``: the city's other districts, to say so when a
    name carries one of them."""
    name = normalise(raw)
    for word in RESTRICTED:
        if word in name:
            raise NameRefused(
                "restricted",
                f"company name contains the restricted word {word!r}, which needs approval above this registry",
            )
    form = next((f for f in FORMS if name.endswith(f)), None)
    if form is None:
        raise NameRefused("form", f"company name must end with its legal form ({' / '.join(FORMS)})")
    for other in other_districts:
        if other != district and name.startswith((f"{CITY}市{other}", f"{CITY}{other}")):
            raise NameRefused(
                "division",
                f"company name carries the division {CITY}{other}, but the company registers in {CITY}{district}",
            )
    prefix = next((p for p in _division_prefixes(district) if name.startswith(p)), None)
    if prefix is None:
        if CITY in name:
            raise NameRefused("order", f"the division ({CITY}…) must come first in the company name")
        raise NameRefused(
            "division", f"company name must start with its administrative division ({CITY} or {CITY}市{district})"
        )
    middle = name[len(prefix) : -len(form)]
    industry = next((i for i in sorted(INDUSTRIES, key=len, reverse=True) if middle.endswith(i)), None)
    if industry is None:
        leading = next((i for i in INDUSTRIES if middle.startswith(i)), None)
        if leading is not None and len(middle) > len(leading):
            raise NameRefused("order", f"the industry ({leading}) must come after the trade name, before the form")
        raise NameRefused(
            "industry",
            "company name must state its industry (e.g. 信息科技, 商贸, 餐饮) between the trade name and the form",
        )
    trade = middle[: -len(industry)]
    low, high = TRADE_NAME_CHARS
    if not low <= len(trade) <= high:
        raise NameRefused(
            "trade_name",
            f"the trade name (字号) must be {low} to {high} characters, not {len(trade)} ({trade or 'none'})",
        )
    if not _HAN.match(trade):
        raise NameRefused("trade_name", f"the trade name (字号) {trade!r} must be Chinese characters only")
    if trade in INDUSTRIES or any(
        trade == d.removesuffix("区").removesuffix("县") or trade == d for d in (district, *other_districts) if d
    ):
        raise NameRefused("trade_name", f"the trade name (字号) {trade!r} may not be an industry or a division name")
    return CompanyName(name, prefix, trade, industry, form)
