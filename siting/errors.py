"""Errors raised by siting for bad input, each saying what, where and how to fix.

The messages are English at the source; :func:`in_chinese` says the common ones in
Chinese (clause by clause, file names, rows and values kept) for ``--lang zh`` and for
the CLI's two-language default.
"""

from __future__ import annotations

import re


class SitingError(ValueError):
    """Bad input or an impossible request, with a message a planner can act on."""


class InfeasibleError(SitingError):
    """The optimisation model has no feasible solution (the message says why)."""


# what a file or layer is, as the messages name it
_WHAT = {
    "OSM": "OSM", "GraphML": "GraphML", "buildings": "建筑", "inventory": "存量空间清单",
    "existing-facilities": "现有设施", "exclusion": "排除范围", "population": "人口",
    "communities": "社区边界", "community": "社区边界", "policy": "政策", "scenario": "场景",
    "group raster": "分组人口栅格", "raster": "栅格", "longitude": "经度", "latitude": "纬度",
    "population layer": "人口图层", "exclusion layer": "排除范围图层",
    "east": "东", "west": "西", "north": "北", "south": "南", "construction": "建设改造费用",
    "fit_out": "装修设备费用", "rent": "租金", "operations": "运营费用",
    "an .osm / .osm.pbf extract": " .osm / .osm.pbf 数据文件",
    "a .graphml walking graph": " .graphml 步行网络", "a scenario .toml file": "场景 .toml 文件",
    "a policy .toml file": "政策 .toml 文件",
    "a .csv/.xlsx/.gpkg inventory": " .csv/.xlsx/.gpkg 存量空间清单",
    "a .csv/.xlsx/.gpkg file of existing facilities": "现有设施的 .csv/.xlsx/.gpkg 文件",
    "a vector file of building polygons": "建筑面的矢量文件",
    "a vector file of community polygons": "社区边界面的矢量文件",
    "a population raster, vector layer or table": "人口栅格、矢量图层或表格",
}
_NUM = r"'?[^';]*?'?"
# one clause (between "; ") → Chinese; "{w0}" is group 0 said through _WHAT
_CLAUSES: tuple[tuple[re.Pattern, str], ...] = tuple((re.compile(p), zh) for p, zh in (
    (r"^(?:([^:]+?) )?file not found: (.+)$", "找不到{w0}文件：{1}"),
    (r"^population raster not found: (.+)$", "找不到人口栅格文件：{0}"),
    (r"^(?:(?:scenario|policy) file )?(.+) is a folder, not a file$", "{0} 是文件夹而不是文件"),
    (r"^(.+) is empty \(0 bytes\)$", "{0} 是空文件（0 字节）"),
    (r"^(.+) cannot be read \(permission denied\)$", "{0} 无读取权限"),
    (r"^give only one of (.+)$", "只能给出其中之一：{0}"),
    (r"^give a vector file such as \.gpkg, \.geojson or \.shp$",
     "请提供 .gpkg、.geojson 或 .shp 等矢量文件"),
    (r"^give (\.\w+(?:, \.\w+)*(?: or \.\w+)?)$", "请使用 {0}"),
    (r"^give a siting output folder or a scenario TOML$", "请提供 siting 输出文件夹或场景 TOML 文件"),
    (r"^give (an? .+)$", "请提供{w0}"),
    (r"^or give (--[\w-]+)$", "或使用 {0}"),
    (r"^not valid TOML \((.+)\)$", "不是有效的 TOML 文件（{0}）"),
    (r"^(.+): unknown scenario key \(check the spelling$", "{0}：未知的场景键（请检查拼写"),
    (r"^`siting run --help` lists the flags, the keys are the same with _ for -\)$",
     "`siting run --help` 列出全部参数，键名即参数名，- 换成 _）"),
    (r"^(.+): must be a finite number \(inf and nan are not accepted\) \(got (.+)\)$",
     "{0}：必须是有限数值（不接受 inf 和 nan），收到 {1}"),
    (r"^(.+): Input should be greater than or equal to (.+) \(got (.+)\)$",
     "{0}：必须大于等于 {1}，收到 {2}"),
    (r"^(.+): Input should be greater than (.+) \(got (.+)\)$", "{0}：必须大于 {1}，收到 {2}"),
    (r"^(.+): Input should be (.+) \(got (.+)\)$", "{0}：应为 {1}，收到 {2}"),
    (r"^(.+): must be a finite number, got (.+)$", "{0}：必须是有限数值，收到 {1}"),
    (r"^(.+) must be a number, got (.+)$", "{0} 必须是数字，收到 {1}"),
    (r"^(.+) must be (>=|>|<=|<) (.+), got (.+)$", "{0} 必须 {1} {2}，收到 {3}"),
    (r"^([\w.]+) must be ((?:\w+, )*\w+ or \w+), got (.+)$", "{0} 必须是 {1} 之一，收到 {2}"),
    (r"^(.+): unknown key \(check the spelling$", "{0}：未知的键（请检查拼写"),
    (r"^see (.+)\)$", "参见 {0}）"),
    (r"^the keys of the scenario's \[policy\] table mirror the policy file\)$",
     "场景 [policy] 表的键与政策文件相同）"),
    (r"^bbox (east|west|north|south) (.+) is outside (.+) degrees \(bbox is west, south, east, "
     r"north in WGS84 degrees\)$", "bbox 的{w0}界 {1} 超出 {2} 度（bbox 依次为西、南、东、北，WGS84 度）"),
    (rf"^({_NUM}) is not yes/no$", "{0} 不是 是/否"),
    (r"^write 有/无, 是/否, yes/no or 1/0 \(blank: unknown, allowed\)$",
     "请填写 有/无、是/否、yes/no 或 1/0（空白表示未知，允许）"),
    (r"^(.+) is a folder without summary\.json$", "{0} 是没有 summary.json 的文件夹"),
    (r"^no input: give --osm FILE, --graphml FILE --buildings FILE, or --place NAME$",
     "没有输入：请给出 --osm 文件、--graphml 文件加 --buildings 文件，或 --place 地名"),
    (r"^--bbox must be four numbers W,S,E,N, got (.+)$", "--bbox 必须是四个数 西,南,东,北，收到 {0}"),
    (r"^--bbox (.+) does not overlap the data in (.+) \(its (?:buildings, or ways|.+), span "
     r"W,S,E,N (.+)\)$", "--bbox {0} 与数据 {1} 不重叠（数据范围 西,南,东,北 {2}）"),
    (r"^check the order W,S,E,N \(longitude first\) or give the matching extract$",
     "请检查顺序 西,南,东,北（经度在前），或提供覆盖该范围的数据"),
    (r"^unknown solver '(.+)'$", "未知求解器 '{0}'"),
    (r"^choose one of (.+)$", "可选：{0}"),
    (r"^the (.+) layer has no CRS$", "{w0}图层没有坐标参考系（CRS）"),
    (r"^the raster has no CRS$", "栅格没有坐标参考系（CRS）"),
    (r"^save it with one \(e\.g\. EPSG:4326\) or give (--[\w-]+)$",
     "请保存时指定（如 EPSG:4326），或使用 {0}"),
    (r"^save it with one \(e\.g\. EPSG:4326\)$", "请保存时指定（如 EPSG:4326）"),
    (r"^the (.+) layer has no geometry \(a table without shapes\?\)$",
     "{w0}图层没有几何（是否为普通表格？）"),
    (r"^the (?:inventory|table) has no rows$", "表中没有数据行"),
    (r"^the (.+) layer is empty$", "{w0}图层为空"),
    (r"^floor area is missing$", "缺少建筑面积"),
    (r"^floor area (.+) m² is not positive$", "建筑面积 {0} m² 不是正数"),
    (r"^give the gross floor area in m²$", "请填写建筑面积（m²）"),
    (rf"^({_NUM}) is not a number$", "{0} 不是数字"),
    (rf"^({_NUM}) is not a finite number$", "{0} 不是有限数值"),
    (rf"^({_NUM}) is not a number of degrees$", "{0} 不是以度为单位的数字"),
    (rf"^({_NUM}) is negative$", "{0} 为负数"),
    (r"^lon (.+), lat (.+): lat and lon look swapped$", "经度 {0}、纬度 {1}：经纬度似乎颠倒"),
    (r"^check which column is 经度 \(lon\) and 纬度 \(lat\)$", "请检查哪一列是经度、哪一列是纬度"),
    (r"^lon (.+), lat (.+): these are not lon/lat degrees \(projected metres\?\)$",
     "经度 {0}、纬度 {1}：不是经纬度（投影坐标，单位米？）"),
    (r"^give WGS84/GCJ-02/BD-09 degrees$", "请给出 WGS84/GCJ-02/BD-09 经纬度"),
    (r"^id (.+) appears in (.+)$", "编号 {0} 重复出现于 {1}"),
    (r"^ids must be unique \(fix or delete the duplicate\)$", "编号必须唯一（请修改或删除重复行）"),
    (r"^unknown acquisition mode (.+)$", "未知的取得方式 {0}"),
    (r"^use 改造/租赁/置换/新建 or renovate/lease/transfer/new_build$",
     "请使用 改造/租赁/置换/新建（或 renovate/lease/transfer/new_build）"),
    (r"^no lon column$", "缺少经度列"), (r"^no lat column$", "缺少纬度列"),
    (r"^give 经度/lon and 纬度/lat in degrees \(or a GeoPackage with points\)$",
     "请给出经度/lon 和纬度/lat（度），或使用点要素 GeoPackage"),
    (r"^no floor-area column$", "缺少建筑面积列"),
    (r"^add one headed 建筑面积 or floor_area \(gross floor area, m²\)$",
     "请添加表头为 建筑面积 或 floor_area 的列（m²）"),
    (r"^unsupported (.+) format (.+)$", "不支持的{w0}文件格式 {1}"),
    (r"^cannot read the ([^(]+?) \((.+)\)$", "无法读取{w0}（{1}）"),
    (r"^cannot read the ([^(]+?) \((.+)$", "无法读取{w0}（{1}"),  # its reason goes on
    (r"^file is not a database\)$", "不是数据库文件）"),
    (r"^every row lies outside the study area \(nearest (.+) km away\)$",
     "所有行都在研究范围之外（最近的相距 {0} km）"),
    (r"^the coordinates look like (GCJ-02 \(Amap, Tencent\)|BD-09 \(Baidu\)), not WGS84: "
     r"give (.+)$", "坐标像是 {0}，而非 WGS84：请使用 {1}"),
    (r"^check --(\w+)-crs \(wgs84, gcj02 or bd09\) and that the file covers this area$",
     "请检查 --{0}-crs（wgs84、gcj02 或 bd09）以及文件是否覆盖本区域"),
    (r"^no ([^:]+) column '(.+)'$", "缺少{w0}列 '{1}'"),
    (r"^columns are (.+)$", "表中的列为 {0}"),
    (r"^no ([^:]+) column \(tried (.+)\)$", "缺少{w0}列（已尝试 {1}）"),
    (r"^name it with (.+)$", "请用 {0} 指定列名"),
    (r"^([^:]+) column '(.+)' is missing, not a number or negative in (\d+) rows, e\.g\. rows "
     r"(.+)$", "{w0}列 '{1}' 有 {2} 行缺失、非数字或为负（例如行号 {3}）"),
    (r"^community boundaries must be polygons, found (.+)$", "社区边界必须是面要素，实际为 {0}"),
    (r"^no polygons in the (.+) layer$", "{w0}图层中没有面要素"),
    (r"^not an OSM XML file \(no <osm> element in its first 4 KB\)\. Give an OSM extract "
     r"\(\.osm or \.osm\.pbf\), e\.g\. from Geofabrik or Overpass\.$",
     "不是 OSM XML 文件（前 4 KB 中没有 <osm> 元素）。请提供 OSM 数据（.osm 或 .osm.pbf），"
     "例如来自 Geofabrik 或 Overpass"),
    (r"^a node has an invalid location \((.+)\)$", "有节点坐标无效（{0}）"),
    (r"^latitudes must lie in \[-90, 90\] and longitudes in \[-180, 180\] degrees\. Fix or "
     r"drop that node\.$", "纬度须在 [-90, 90]、经度须在 [-180, 180] 度内。请修正或删除该节点"),
    (r"^not a readable OSM file \((.+)\)\. Give OSM XML \(\.osm\) or PBF \(\.osm\.pbf\)\.$",
     "无法读取的 OSM 文件（{0}）。请提供 OSM XML（.osm）或 PBF（.osm.pbf）"),
    (r"^not an osmnx GraphML file \((.+)\)$", "不是 osmnx GraphML 文件（{0}）"),
    (r"^graphml needs buildings \(a GeoPackage/GeoJSON of building polygons\)$",
     "graphml 需要配合建筑数据（建筑面的 GeoPackage/GeoJSON）"),
    (r"^(\w+) \((--[\w-]+)\) conflicts with model (\w+)$", "{0}（{1}）与模型 {2} 冲突"),
    (r"^set covering opens as many sites as it takes to reach everyone in reach, so it has "
     r"no site limit or budget$", "集合覆盖模型会开设覆盖所有可达居民所需的全部设施，因此没有设施数上限或预算"),
    (r"^it is only read by the embedded model$", "只有嵌入式设施模型读取此项"),
    (r"^drop (--[\w-]+), or use --model (\w+)(?: \(a policy alone selects it\))?$",
     "请去掉 {0}，或使用 --model {1}"),
    (r"^age share (\w+) = (.+) must be a fraction in \[0, 1\] \(e\.g\. 0\.187 for 18\.7 %\)$",
     "年龄组 {0} 的比例 {1} 必须是 [0, 1] 之间的小数（例如 18.7 % 写作 0.187）"),
    (r"^--age-shares must be GROUP=SHARE pairs separated by commas, got (.+)$",
     "--age-shares 必须是以逗号分隔的 组=比例，收到 {0}"),
    (r"^--group-raster must be GROUP=PATH, got (.+)$", "--group-raster 必须是 组=路径，收到 {0}"),
    (r"^population_total scales the building estimate$", "population_total 用于缩放基于建筑的人口估计"),
    (r"^a population file carries its own totals, so give only one of them$",
     "人口文件自带总数，两者只能给出其一"),
    (r"^the Tianditu basemap needs a key$", "天地图底图需要密钥"),
    (r"^pass tianditu_key \(free from (.+)\)$", "请提供 tianditu_key（可在 {0} 免费申请）"),
    (r"^no plan meets the requirements with the programme's money$",
     "没有方案能在项目资金内满足要求"),
    (r"^the (\d{4}) budget runs short by (.+) CNY$", "{0} 年预算缺口 {1} 元"),
    (r"^funding source (.+) in (\d{4}) runs short by (.+) CNY$", "资金来源 {0} {1} 年缺口 {2} 元"),
    (r"^no funding source may pay the (\w+)(?: \((\w+)\))? of site (.+) in (\d{4}) \((.+) CNY\)$",
     "没有资金来源可支付场所 {2} {3} 年的{w0}（{4} 元）"),
    (r"^(.+) holds an earlier siting (\w+)$", "{0} 中有之前的 siting 输出"),
    (r"^pass --overwrite to replace it, or choose another folder$",
     "加 --overwrite 替换，或选择其他文件夹"),
))
_WORDS = ((re.compile(r"\brow (\d+)"), "第 \\1 行"), (re.compile(r", column '([^']*)'"), "，'\\1' 列"),
          (re.compile(r"(行) and (第)"), "\\1和\\2"),
          (re.compile(r"invalid scenario: "), "场景无效: "),
          (re.compile(r"invalid policy: "), "政策无效: "),
          (re.compile(r"^output (?:folder|path) "), "输出文件夹 "),
          (re.compile(r"\. Raise these amounts \(funding table 金额, phases 预算\) or let other "
                      r"sources pay \(费用类型, 服务, 条件\)$"),
           "; 请提高这些金额（资金表 金额、分期表 预算），或允许其他来源支付（费用类型、服务、条件）"))


def _clause(text: str) -> tuple[str, bool]:
    """One clause in Chinese (its leading ``where: `` prefixes kept, or said when a
    pattern knows them) and whether a pattern said it; else as it was."""
    heads = text.split(": ")
    for k in range(len(heads)):  # the longest tail a pattern knows, after the prefixes
        said = _said(": ".join(heads[k:]))
        if said is not None:
            return "：".join([_said(h) or h for h in heads[:k]] + [said]), True
    return text, False


def _said(text: str) -> str | None:
    """``text`` in Chinese when a pattern matches all of it."""
    for pattern, zh in _CLAUSES:
        m = pattern.match(text)
        if m is None:
            continue
        g = [v or "" for v in m.groups()]
        if "{w0}" in zh and g[0] and g[0] not in _WHAT:
            continue  # a thing it cannot name in Chinese: a later pattern may
        return zh.format(*g, **{f"w{n}": _WHAT.get(v, v) for n, v in enumerate(g)})
    return None


def in_chinese(message: str) -> str | None:
    """The message in Chinese, clause by clause (clauses it does not know stay English).

    Parameters
    ----------
    message
        An error message (e.g. ``str`` of a :class:`SitingError`).

    Returns
    -------
    str or None
        None when no clause is known (or the message is too long to parse cheaply: a
        value from the data may be any length).
    """
    if len(message) > 1000:
        return None
    text = message
    for pattern, zh in _WORDS:
        text = pattern.sub(zh, text)
    parts = [_clause(c) for c in text.split("; ")]
    if not any(hit for _, hit in parts):
        return None
    return re.sub(r"(场景无效|政策无效): ", r"\1：", "；".join(p for p, _ in parts))
