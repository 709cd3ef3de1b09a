"""Chinese and English labels for maps, tables and workbooks.

Labels are looked up by a key; unknown keys fall back to the key itself so that
columns added by later stages still show (untranslated) instead of failing.
"""

from __future__ import annotations

import re

import numpy as np
from shapely.geometry.base import BaseGeometry

from siting.errors import SitingError
from siting.io.coords import _in_china
from siting.report.vocab_labels import GROUP_LABELS, SERVICE_LABELS, VALUE_LABELS

LANGS = ("zh", "en")

LABELS: dict[str, tuple[str, str]] = {
    # map layers and legend
    "study_area": ("研究范围", "Study area"),
    "communities": ("社区", "Communities"),
    "community": ("社区", "Community"),
    "population": ("人口分布", "Population"),
    "population_group": ("人口：{group}", "Population: {group}"),
    "reach_tier": ("{m} 分钟步行范围", "{m}-min walking reach"),
    "candidates": ("候选场所", "Candidate sites"),
    "chosen": ("选定场所", "Chosen sites"),
    "existing_facilities": ("现有设施", "Existing facilities"),
    "uncovered": ("未覆盖需求", "Uncovered demand"),
    "assignments": ("服务分配（需求点→场所）", "Assignments (demand → site)"),
    "assigned_to": ("{site}：{n} 个需求点", "{site}: {n} demand points"),
    "unserved_service": ("未获服务：{s}", "Not served: {s}"),
    "unserved_people": ("未获服务人数", "People not served"),
    "unserved_households": ("未获服务户数", "Households not served"),
    "households_unit": ("户", "households"),
    "legend": ("图例", "Legend"),
    "complex": ("综合服务设施（多功能）", "Service complex (several services)"),
    "single": ("单一功能设施", "Single-function facility"),
    "site_generic": ("新设施", "New facility"),
    "people": ("人", "people"),
    "people_per_cell": ("每格人口", "people per cell"),
    "no_site_reachable": ("步行范围内无设施", "no facility within reach"),
    "walk_to_site": ("步行 {m:.0f} 米至 {j}", "{m:.0f} m walk to {j}"),
    "osm_basemap": ("OpenStreetMap", "OpenStreetMap"),
    "light_basemap": ("浅色底图", "Light basemap"),
    "tianditu_basemap": ("天地图", "Tianditu"),
    "amap_basemap": ("高德地图", "Amap"),
    "extract_basemap": ("街道与建筑（离线底图）", "Streets and buildings (offline)"),
    "streets": ("街道", "Streets"),
    "buildings": ("建筑", "Buildings"),
    "map_title": ("社区嵌入式服务设施选址方案", "Community service facility plan"),
    "plan_cost": ("方案费用", "Plan cost"),
    "plan_budget": ("预算", "Budget"),
    "no_budget": ("未设预算", "no budget"),
    "programme_money": ("{years} 年项目期内支出 {spent} 元，项目资金 {money} 元",
                        "programme {years}: spent {spent} of {money} CNY"),
    "cny": ("元", "CNY"),
    "people_covered": ("覆盖人口 / 总人口", "People covered / total"),
    "gap": ("最优性间隙", "gap"),
    "gap_unknown": ("未知（无界）", "unknown (no bound proven)"),
    "amap_satellite": ("高德影像", "Amap satellite"),
    # popup and table fields
    "site_id": ("场所编号", "Site ID"),
    "source_id": ("场所编号", "Site ID"),  # the stable id (OSM, inventory or facility id)
    "name": ("名称", "Name"),
    "kind": ("建筑类别", "Building class"),
    "acquisition_mode": ("获取方式", "Acquisition mode"),
    "floor_area_m2": ("建筑面积（m²）", "Floor area (m²)"),
    "usable_area_m2": ("可用面积（m²）", "Usable area (m²)"),
    "levels_estimated": ("层数为估计值", "Storeys estimated"),
    "cost": ("费用（元）", "Cost (CNY)"),
    "required_m2": ("应配面积（平方米）", "Required m²"),
    "provided_m2": ("已配面积（平方米）", "Provided m²"),
    "met": ("达标", "Standard met"),
    "shortfall_m2": ("缺口面积（平方米）", "Shortfall m²"),
    "reachable_m2": ("可达面积（平方米）", "m² in reach"),
    "unique_covered": ("独有覆盖人口（仅此处可达）", "People only this site reaches"),
    "unique_per_10k_cny": ("每万元独有覆盖人口", "Such people per 10,000 CNY"),
    "cost_rank_in_reach": ("同片区候选中的费用排名", "Cost rank among candidates in reach"),
    "loss_if_dropped": ("去掉此处后减少的覆盖人口", "People covered lost if dropped (re-planned)"),
    "marginal_value": ("边际价值（目标分）", "Marginal value (objective points)"),
    "marginal_people": ("去掉此处后减少的获服务人数", "People served lost if dropped"),
    # "covered": residents within reach of a chosen site (embedded: at points the plan serves
    # in some service); "served": the people (households) a plan assigns to a service
    "covered_population": ("覆盖人口", "People covered"),
    # programme planning (siting.models.embedded.rooms / operations / needs)
    "levels": ("服务层级（街道—社区—小区）", "Service levels"),
    "level": ("层级", "Level"),
    "n_sites": ("场所数", "Sites"),
    "min_m2": ("最小面积（㎡）", "Least area (m²)"),
    "max_m2": ("最大面积（㎡）", "Largest area (m²)"),
    "level_name": ("层级名称", "Level name"),
    "shared_m2": ("共享面积（㎡）", "Shared area (m²)"),
    "shared_rooms": ("错时共享用房", "Shared rooms (staggered use)"),
    "service_a": ("服务甲", "Service A"),
    "service_b": ("服务乙", "Service B"),
    "names": ("服务名称", "Services"),
    "operating_cost_year": ("年运营成本（元）", "Operating cost per year (CNY)"),
    "revenue_year": ("年收费收入（元）", "Fee revenue per year (CNY)"),
    "unit_subsidy_year": ("年定额运营补贴（元）", "Subsidy per unit served, per year (CNY)"),
    "operating_balance_year": ("年运营收支（元）", "Operating balance per year (CNY)"),
    "subsidy_year": ("年财政补贴（元）", "City subsidy per year (CNY)"),
    "subsidy_total_year": ("新设施年财政补贴合计（元）", "City subsidy of new sites per year (CNY)"),
    "subsidy_total_year_all": ("全部设施年财政补贴合计（元）", "City subsidy of all sites per year (CNY)"),
    "subsidy_cap_per_year": ("年补贴上限（元）", "Cap on the yearly subsidy (CNY)"),
    "needs": ("居民需求表", "Residents' needs table"),
    "needs_mode": ("居民需求权重用途", "Residents' needs weights scale"),
    "population_in_reach": ("步行范围内人口", "People within reach"),
    "served_tier": ("{m} 分钟内覆盖人口", "People covered within {m} min"),
    "osm_id": ("OSM 编号", "OSM ID"),
    "id_inventory": ("清查编号", "Inventory ID"),
    "id_existing": ("设施编号", "Facility ID"),
    "id_other": ("编号", "ID"),
    "storeys_estimated": ("层数为估计值", "storeys estimated"),
    "served_service": ("获服务人数：{s}", "People served: {s}"),
    "served_households_service": ("获服务户数：{s}", "Households served: {s}"),
    "served": ("获服务人数（家政为户数）", "Served (people, or households)"),
    "unit": ("单位", "Unit"),
    "source": ("来源", "Source"),
    "existing": ("现有设施", "Existing facility"),
    "existing_services": ("现有服务", "Existing services"),
    "excluded_reason": ("排除原因", "Reason excluded"),
    "lon": ("经度", "Longitude"),
    "lat": ("纬度", "Latitude"),
    "service": ("服务", "Service"),
    "area_m2": ("面积（m²）", "Floor area (m²)"),
    "units": ("服务单元（床位/托位等）", "Units (beds, places…)"),
    "floor_area_by_service": ("各服务面积", "Floor area by service"),
    "units_by_service": ("各服务单元", "Units by service"),
    "service_mix": ("服务组合", "Service mix"),
    "community_id": ("社区编号", "Community ID"),
    "community_name": ("社区名称", "Community name"),
    "group": ("分区", "Area"),
    "total_population": ("总人口", "Total population"),
    "uncovered_population": ("未覆盖人口", "Uncovered population"),
    "unreachable_population": ("步行范围内无候选场所的人口", "Population with no candidate in reach"),
    "uncovered_points": ("未覆盖需求点数", "Uncovered demand points"),
    "covered_share": ("覆盖率", "Share covered"),
    "meets_standard": ("达标", "Meets standard"),
    "component": ("路网连通分量", "Network component"),
    "item": ("项目", "Item"),
    "value": ("数值", "Value"),
    "key": ("键", "Key"),
    "unmet": ("未满足需求", "Unmet demand"),
    "budget": ("预算（元）", "Budget (CNY)"),
    "budget_left": ("预算余额（元）", "Budget left (CNY)"),
    "cost_share": ("占总费用比例", "Share of total cost"),
    "total": ("合计", "Total"),
    # summary KPIs
    "coverable_population": ("可覆盖人口（步行范围内有候选场所）", "Coverable population"),
    "n_demand_points": ("需求点数", "Demand points"),
    "n_candidate_sites": ("候选场所数", "Candidate sites"),
    "n_sites_chosen": ("选定场所数", "Sites chosen"),
    "model": ("模型", "Model"),
    "max_sites": ("最多场所数", "Most sites"),
    "cost_total": ("总费用（元）", "Total cost (CNY)"),
    "annual_cost": ("年费用（元/年）", "Annual cost (CNY/yr)"),
    "area_used_m2": ("规划使用面积（m²）", "Area used by the plan (m²)"),
    "cost_one_off": ("一次性费用（元）", "One-off cost (CNY)"),
    "cost_fit_out": ("服务装修费用（元）", "Service fit-out (CNY)"),
    "cost_rent_horizon": ("规划期租金等年费用（元）", "Rent over the horizon (CNY)"),
    "objective": ("目标值", "Objective"),
    "best_bound": ("已证明的最优界", "Best proven bound"),
    "status": ("求解状态", "Solver status"),
    "mip_gap": ("最优性间隙", "MIP gap"),
    "solver": ("求解器", "Solver"),
    "solve_time_s": ("求解时间（秒）", "Solve time (s)"),
    "threshold_m": ("步行距离阈值（米）", "Walking threshold (m)"),
    "walk_minutes": ("步行时间（分钟）", "Walking time (min)"),
    "speed_m_per_min": ("步行速度（米/分钟）", "Walking speed (m/min)"),
    "crs": ("投影坐标系", "Projected CRS"),
    "network_nodes": ("路网节点数", "Network nodes"),
    "network_edges": ("路网边数", "Network edges"),
    "network_components": ("路网连通分量数", "Network components"),
    "largest_component_share": ("最大连通分量节点占比", "Largest component share"),
    "population_outside_largest_component": ("最大连通分量外人口", "Population outside largest component"),
    "levels_estimated_share": ("层数为估计值的住宅比例", "Residential storeys estimated (share)"),
    "runtime_s": ("运行时间（秒）", "Run time (s)"),
    "communities_meeting_standard": ("达标社区数", "Communities meeting the standard"),
    "communities_total": ("社区总数", "Communities"),
    "served_by_service": ("各服务获服务人数", "People served by service"),
    "n_existing_sites": ("现有设施数", "Existing facilities"),
    "n_new_sites_chosen": ("新选场所数", "New sites chosen"),
    "n_candidates_excluded": ("排除的候选场所数", "Candidates excluded"),
    "demand_beyond_max_snap": ("距道路过远的需求点数", "Demand points too far from a street"),
    "population_beyond_max_snap": ("距道路过远的人口", "People too far from a street"),
    "sites_beyond_max_snap": ("距道路过远的候选场所数", "Candidates too far from a street"),
    "population_relinked_from_fragment": ("经零散路段接入主路网的人口",
                                          "People linked past a street fragment"),
    "demand_walk_from_entrance": ("从出入口起步的需求点数", "Demand points walking from an entrance"),
    "demand_walk_from_wall": ("从临街外墙起步的需求点数", "Demand points walking from a wall"),
    "population_source": ("人口数据来源", "Population source"),
    "population_from_buildings": ("由住宅建筑面积估算", "estimated from residential buildings"),
    "community_source": ("社区划分来源", "Communities from"),
    "objective_kind": ("优化目标", "Objective"),
    "standard_m2_per_100_households": ("面积标准（m²/百户）", "Area standard (m² per 100 households)"),
    "standard_mode": ("面积标准执行方式", "Area standard mode"),
    "n_complexes": ("综合服务设施数", "Service complexes"),
    "policy": ("政策文件", "Policy"),
    "threshold_m_by_service": ("各服务步行距离（米）", "Walking distance by service (m)"),
    "speed_m_per_min_by_profile": ("步行速度（米/分钟）", "Walking speed (m/min)"),
    "households": ("户数", "Households"),
    "all": ("全部人口", "Everyone"),
    "default": ("一般", "default"),
    "elderly": ("老年人", "elderly"),
    "child_escort": ("陪同儿童", "escorting children"),
    "unmet_by_service": ("各服务未满足需求", "Unmet demand by service"),
    "population_by_group": ("各人群人口", "Population by group"),
    # sheets
    "sheet_summary": ("汇总指标", "Summary"),
    "sheet_sites": ("选定场所", "Sites"),
    "sheet_services": ("场所服务配置", "Services per site"),
    "sheet_communities": ("社区达标", "Community compliance"),
    "sheet_costs": ("费用构成", "Cost breakdown"),
    "sheet_unmet": ("未满足需求", "Unmet demand"),
    # a programme's sheets (siting.models.embedded.funding)
    "groups": ("分区预算分配（分解求解）", "Budget by group (decomposed plan)"),
    "decompose": ("分解求解", "Decomposition"),
    "annual_plan": ("年度建设计划", "Annual construction plan"),
    "annual_summary": ("年度汇总", "Annual summary"),
    "funding": ("资金安排", "Funding"),
    "year": ("年份", "Year"), "year_open": ("建设年份", "Year opened"),
    "sites_opened": ("当年新建设施", "Sites opened"), "sites_open": ("累计设施", "Sites open"),
    "cost_construction": ("建设改造费用", "Construction"),
    "rent_per_year": ("年租金", "Rent per year"), "amount": ("金额", "Amount"),
    "spent_construction": ("建设改造支出", "Spent: construction"),
    "spent_fit_out": ("装修设备支出", "Spent: fit-out"), "spent_rent": ("租金支出", "Spent: rent"),
    "spent_operations": ("运营支出", "Spent: running costs"),
    "spent_total": ("支出合计", "Spent in total"), "spent": ("支出", "Spent"),
    "left": ("结余", "Left"), "binds": ("约束", "Binding rule"),
    "opened_in": ("{y} 年建设", "Opened in {y}"),
    # scenario comparison
    "scenario": ("方案", "Scenario"),
    "comparison": ("方案比较", "Comparison"),
    "sites_by_scenario": ("各方案选定场所", "Sites by scenario"),
    "n_scenarios": ("选中该场所的方案数", "Scenarios opening it"),
    "site_ids": ("选定场所编号", "Chosen site IDs"),
    "people_served": ("获服务与覆盖人数", "People served / covered"),
    "curve_title": ("投入与覆盖人口", "Effort and people covered"),
    # the PDF review pack (siting.report.pdf)
    "pdf_title": ("城市社区嵌入式服务设施规划方案", "Community embedded service facilities plan"),
    "pdf_subtitle": ("评审会议材料", "Review meeting pack"),
    "pdf_sites_chosen": ("选定站点 / 候选站点", "Sites chosen / candidates"),
    "pdf_cost_budget": ("总费用 / 预算（元）", "Cost total / budget (CNY)"),
    "pdf_communities_std": ("达标社区 / 社区总数", "Communities meeting the standard / total"),
    "pdf_solver_gap": ("求解状态与间隙", "Solver status and gap"),
    "pdf_served_per_service": ("各项服务获服务人数", "People served per service"),
    "pdf_gap": ("间隙", "gap"),
    "pdf_map_title": ("规划布局图", "Plan map"),
    "pdf_streets": ("步行路网", "Walking streets"),
    "pdf_reach": ("步行 {m} 分钟可达", "{m} min walk"),
    "pdf_unserved": ("未覆盖需求点", "Unserved demand"),
    "pdf_sites": ("选定站点（编号见站点表）", "Chosen sites (numbers as in the sites table)"),
    "pdf_no": ("编号", "No."),
    "pdf_services": ("服务", "Services"),
    "pdf_services_people": ("服务与服务人数（人）", "Services and people served"),
    "pdf_page": ("第 {i} 页，共 {n} 页", "page {i} of {n}"),
    "pdf_assumptions": ("假设与数据来源", "Assumptions and data sources"),
    "pdf_policy": ("政策参数", "Policy values"),
    "pdf_placeholder_note": ("* 标记为占位值（待核实）", "* marks a placeholder value (to be checked)"),
    "pdf_placeholders": ("占位字段", "Placeholder fields"),
    "pdf_data_sources": ("数据来源", "Data sources"),
    "pdf_osm_file": ("OSM 文件", "OSM file"),
    "pdf_population_file": ("人口数据", "Population"),
    "pdf_community_source": ("社区划分", "Communities"),
    "pdf_policy_name": ("政策文件", "Policy"),
    "pdf_rate": ("配置指标（每人）", "Units per person"),
    "pdf_m2_per_unit": ("每单位面积 m²", "m² per unit"),
    "pdf_walk": ("步行距离 m", "Walk m"),
    "pdf_weight": ("权重", "Weight"),
    "pdf_unit": ("单位", "Unit"),
    "pdf_north": ("北", "N"),
    "pdf_continued": ("（续）", " (continued)"),
    "pdf_no_rows": ("无", "none"),
    "pdf_curve": ("预算曲线", "Budget curve"),
    "pdf_font_note": ("", "No CJK font was found on this machine: the report is written in "
                          "English (install e.g. Debian fonts-wqy-zenhei for Chinese)."),
    "pdf_notes": ("说明", "Notes"),
    "pdf_area_std": ("面积标准", "Area standard"),
    "pdf_costs": ("费用", "Costs"),
}



def check_lang(lang: str) -> str:
    """A language code, checked.

    Parameters
    ----------
    lang
        The code given.

    Returns
    -------
    str
        ``lang``, one of :data:`LANGS`.

    Raises
    ------
    SitingError
        For any other code.
    """
    if lang not in LANGS:
        raise SitingError(f"unknown language {lang!r}; choose one of {', '.join(LANGS)}")
    return lang


def default_lang(study_area: BaseGeometry) -> str:
    """The default language of a study area.

    Parameters
    ----------
    study_area
        The study area in WGS-84.

    Returns
    -------
    str
        ``"zh"`` when its centroid is in China (the policy there is Chinese), else ``"en"``.
    """
    c = study_area.centroid
    return "zh" if bool(_in_china(np.array([c.x]), np.array([c.y]))[0]) else "en"


def label(key: str, lang: str, **fmt) -> str:
    """The label of a key.

    Parameters
    ----------
    key
        A key of :data:`LABELS`, :data:`SERVICE_LABELS`, :data:`GROUP_LABELS` or
        :data:`VALUE_LABELS`.
    lang
        ``"zh"`` or ``"en"``.
    **fmt
        Values of the label's ``{placeholders}``.

    Returns
    -------
    str
        The label in ``lang``, formatted; ``key`` itself when unknown.
    """
    for table in (LABELS, SERVICE_LABELS, GROUP_LABELS, VALUE_LABELS):
        if key in table:
            text = table[key][0 if lang == "zh" else 1]
            return text.format(**fmt) if fmt else text
    return key


def budget_text(summary: dict, lang: str, unit: bool = True) -> str:
    """The money a plan was held to, as the CLI, the map and the PDF show it: the budget;
    else a programme's money (its years' budgets and sources); else "no budget".

    Parameters
    ----------
    summary
        A run's summary (``budget``; a programme's ``programme_money``,
        ``programme_spent`` and ``programme_years``).
    lang
        ``"zh"`` or ``"en"``.
    unit
        Add the currency after the budget (the PDF's column heading has it).

    Returns
    -------
    str
    """
    budget = summary.get("budget")
    if budget is not None:
        return f"{budget:,.0f}" + (f" {label('cny', lang)}" if unit else "")
    money, years = summary.get("programme_money"), summary.get("programme_years")
    if money is not None and np.isfinite(money) and years:
        span = f"{years[0]}–{years[-1]}" if len(years) > 1 else f"{years[0]}"
        return label("programme_money", lang, money=f"{money:,.0f}", years=span,
                     spent=f"{summary.get('programme_spent') or 0.0:,.0f}")
    return label("no_budget", lang)


_GRID = re.compile(r"^grid of (\d+(?:\.\d+)?) m planning cells$")
_BOTH_NAMES = ("total", "study_area")
_CELL = re.compile(r"^(\d+(?:\.\d+)?) m planning cell E(-?[\d.]+) km N(-?[\d.]+) km$")


def place_name(text: object, lang: str) -> object:
    """A place name in ``lang``.

    Parameters
    ----------
    text
        A name (any value of a name column).
    lang
        ``"zh"`` or ``"en"``.

    Returns
    -------
    object
        A generated name in ``lang``: a planning cell (``500 m planning cell E12.5 km
        N3550 km``), the cell grid, or a row name given in both languages
        (``合计 / Total``); any other value unchanged (names from data are never
        translated).
    """
    if not isinstance(text, str):
        return text
    for key in _BOTH_NAMES:  # "合计 / Total": a row name written in both languages
        if text == " / ".join(LABELS[key]):
            return label(key, lang)
    m = _GRID.match(text)
    if m is not None:
        return f"{m[1]} 米规划单元网格" if lang == "zh" else text
    m = _CELL.match(text)
    if m is None or lang != "zh":
        return text
    return f"{m[1]} 米规划单元（东 {m[2]} 公里，北 {m[3]} 公里）"


def names_in(text: str, lang: str) -> str:
    """A message with every generated place name in it in ``lang`` (see :func:`place_name`).

    Parameters
    ----------
    text
        A message, e.g. an infeasibility explanation naming planning cells.
    lang
        ``"zh"`` or ``"en"``.

    Returns
    -------
    str
        ``text`` with each ``500 m planning cell E… km N… km`` translated.
    """
    return re.sub(_CELL.pattern.strip("^$"), lambda m: str(place_name(m[0], lang)), text)


# notes a run writes into summary.json (English), as the report says them in Chinese
_NOTES_ZH: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"^area standard ([\d.]+) m² per 100 households in penalty mode: met in (\d+) "
                r"of (\d+) communities; each m² short costs ([\d.]+) objective points .*$"),
     "面积标准每百户 {0} m²（罚分方式）：{2} 个社区中 {1} 个达标；每缺 1 m² 扣 {3} 目标分"
     "（area_standard.penalty_per_m2），与服务人数相权衡，因此服务人数更重要处方案不强求达标；"
     "--standard-mode hard 可强制达标"),
    (re.compile(r"^the solver stopped before proving a bound: the gap is unknown$"),
     "求解器在证明界之前停止：最优性间隙未知"),
    (re.compile(r"^no time left within ([\d.]+) s for the least-cost stage: .*$"),
     "{0} 秒内已无时间求解费用最低阶段：方案服务人数为已找到的最多，但费用可能高于所需"),
    (re.compile(r"^the solver's best plan within ([\d.]+) s \(([-\d,.]+)\) was worse than "
                r"the greedy plan \(([-\d,.]+)\).*$"),
     "求解器 {0} 秒内的最好方案（{1}）不如贪心方案（{2}）：采用贪心方案，并给出求解器的界"),
    (re.compile(r"^no plan at least as good as the ([\d,]+) CNY plan was found within the time "
                r"limit: that plan is kept$"),
     "时限内未找到不差于 {0} 元方案的方案：保留该方案"),
    (re.compile(r"^the solver found no plan within the ([\d.]+) s time limit: .*$"),
     "求解器在 {0} 秒时限内未找到方案：此为贪心方案（按每元价值选择场所与综合设施，"
     "服务分配精确求解），无已知界；请放宽时限"),
    (re.compile(r"^funding: running costs are charged each year a new site is open .*, "
                r"paid by (.+)$"),
     "资金：新建场所开放后每年的运营费用（按服务人数的定额补贴及运营亏损，[policy.operations]）"
     "计入项目资金，由{0}支付"),
    (re.compile(r"^funding: the operating deficits could not be settled.*$"),
     "资金：运营亏损未能重新核算，资金安排表与年度汇总表中的运营支出可能偏高"),
    (re.compile(r"^marginal values of a programme are in its objective's units: .*$"),
     "项目的边际价值以目标的单位计：去掉该场所（其他场所的开设年份与面积不变）后减少的"
     "按优先级加权的人·年（marginal_value）与获服务人·年（marginal_people）"),
)


def note_text(text: str, lang: str) -> str:
    """A run's note (summary.json ``notes``, written in English) in ``lang``.

    Parameters
    ----------
    text
        The note.
    lang
        ``"zh"`` or ``"en"``.

    Returns
    -------
    str
        The Chinese text of a known note in zh (its numbers kept), with generated place
        names translated (:func:`names_in`); otherwise ``text``.
    """
    if lang != "zh":
        return text
    for pattern, zh in _NOTES_ZH:
        m = pattern.match(text)
        if m is not None:
            return zh.format(*m.groups())
    return names_in(text, lang)


def short_label(key: str, lang: str) -> str:
    """The label of a key without its bracketed detail, for tight table cells.

    Parameters
    ----------
    key
        A key, as for :func:`label`.
    lang
        ``"zh"`` or ``"en"``.

    Returns
    -------
    str
        E.g. 社区养老 for 社区养老（日间照料/短期托养）, "Elderly day care" for "Elderly day
        care and short-stay beds".
    """
    return label(key, lang).split("（")[0].split(" (")[0].split(" and ")[0]


def list_sep(lang: str) -> str:
    """Separator of a list written out in ``lang``.

    Parameters
    ----------
    lang
        ``"zh"`` or ``"en"``.

    Returns
    -------
    str
        ``"；"`` in Chinese, ``"; "`` in English.
    """
    return "；" if lang == "zh" else "; "


def key_list(text: str, lang: str) -> str:
    """A list of keys (e.g. services) as their labels, for tables and popups.

    Parameters
    ----------
    text
        Keys written ``a;b`` or ``a,b``.
    lang
        ``"zh"`` or ``"en"``.

    Returns
    -------
    str
        The label of each key (:func:`label`), joined with :func:`list_sep`.
    """
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    return list_sep(lang).join(value_label(p, lang) for p in parts)


def value_label(key: str, lang: str) -> str:
    """The label of a value (a class, mode, source, service, status …) in ``lang``.

    Parameters
    ----------
    key
        A key of :data:`VALUE_LABELS` or :data:`SERVICE_LABELS` (looked up first, so
        ``community`` the building class is 社区用房, not the map layer), else as
        :func:`label`.
    lang
        ``"zh"`` or ``"en"``.

    Returns
    -------
    str
        The label; ``key`` itself when unknown.
    """
    for table in (VALUE_LABELS, SERVICE_LABELS):
        if key in table:
            return table[key][0 if lang == "zh" else 1]
    return label(key, lang)


def both(key: str, **fmt) -> tuple[str, str]:
    """Both labels of a key (two header rows, both languages).

    Parameters
    ----------
    key
        A key, as for :func:`label`.
    **fmt
        Values of the label's ``{placeholders}``.

    Returns
    -------
    tuple of str
        ``(zh, en)``.
    """
    return label(key, "zh", **fmt), label(key, "en", **fmt)
