"""Chinese and English names of the vocabularies shown to people: services, values
(building classes, acquisition modes, sources, solver statuses …) and demand groups.

:mod:`siting.report.i18n` looks them up with its other labels (:func:`~siting.report.i18n.label`).
"""

from __future__ import annotations

SERVICE_LABELS: dict[str, tuple[str, str]] = {
    # keys and names of the services in siting/config/policies/cn_default.toml
    "infant_care": ("婴幼儿托育", "Infant care"),
    "elderly_care": ("社区养老（日间照料/短期托养）", "Elderly day care and short-stay beds"),
    "meal_assist": ("社区助餐", "Meal assistance"),
    "after_school": ("儿童托管", "After-school care"),
    "health_station": ("社区卫生服务站", "Health station"),
    "housekeeping": ("家政便民", "Housekeeping and convenience"),
    "culture_station": ("文化活动站", "Culture and fitness station"),
    "kindergarten": ("幼儿园", "Kindergarten"),
    "service_station": ("社区服务站", "Community service station"),
}

VALUE_LABELS: dict[str, tuple[str, str]] = {
    # building classes of candidates (siting.buildings)
    "industrial": ("工业厂房", "industrial"),
    "warehouse": ("仓储", "warehouse"),
    "commercial": ("商业", "commercial"),
    "office": ("办公", "office"),
    "public": ("公共建筑", "public"),
    "community": ("社区用房", "community"),
    "disused": ("闲置建筑", "disused"),
    # acquisition modes of candidates (siting.sites: [sites.costs] of the policy)
    "renovate": ("改造", "renovate"),
    "lease": ("租赁", "lease"),
    "transfer": ("置换", "transfer"),
    "new_build": ("新建", "new build"),
    "other": ("其他", "other"),
    # where a candidate comes from (siting.sites)
    "osm": ("OpenStreetMap", "OpenStreetMap"),
    "inventory": ("存量清单", "inventory"),
    "existing": ("现有设施", "existing facility"),
    # where a walk meets the street (siting.access)
    "entrance": ("出入口", "entrance"),
    "wall": ("临街外墙", "wall nearest a street"),
    "beyond_max_snap": ("距道路过远，未接入", "beyond the largest snap distance"),
    # solver status, model and objective (summary, comparison)
    "optimal": ("最优", "optimal"),
    "feasible": ("可行（未证明最优）", "feasible"),
    "failed": ("失败", "failed"),
    "max_cover": ("最大覆盖", "maximal covering"),
    "set_cover": ("集合覆盖", "set covering"),
    "embedded": ("嵌入式服务设施配置", "embedded facilities"),
    "max_served": ("服务人数最多", "most people served"),
    "min_cost": ("费用最低", "least cost"),
    "min_distance": ("步行距离最短", "shortest walks"),
    # area standard modes; decompose = off | on | auto
    "hard": ("硬约束", "hard"),
    "penalty": ("罚分", "penalty"),
    "off": ("不考虑", "off"),
    "on": ("启用", "on"),
    "auto": ("自动", "auto"),
    "relinked_from_fragment": ("接入主路网", "linked past a street fragment"),
}

GROUP_LABELS: dict[str, tuple[str, str]] = {
    "age_0_2": ("0–2 岁", "Age 0–2"),
    "age_3_5": ("3–5 岁", "Age 3–5"),
    "age_6_14": ("6–14 岁", "Age 6–14"),
    "age_60_plus": ("60 岁以上", "Age 60+"),
    "age_65_plus": ("65 岁以上", "Age 65+"),
    "age_80_plus": ("80 岁以上", "Age 80+"),
    "households": ("户数", "Households"),
}
