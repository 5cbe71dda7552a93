"""org_units: the company, its regions, stores and warehouses; a mixin of `generator._Generator`: its
methods share the generator's state (random generators, months, plans; names with a leading underscore
are private to this package)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

_COMPANY = ("HQ", "Huamei Retail Group", "华美零售集团")
_REGIONS = (
    ("R-EAST", "East China", "华东大区"),
    ("R-SOUTH", "South China", "华南大区"),
    ("R-NORTH", "North China", "华北大区"),
    ("R-WEST", "Southwest China", "西南大区"),
)
# (org_unit_id, name, name_zh, region index)
_STORES = (
    ("ST-001", "Shanghai Xujiahui", "上海徐家汇店", 0),
    ("ST-002", "Shanghai Lujiazui", "上海陆家嘴店", 0),
    ("ST-003", "Hangzhou West Lake", "杭州西湖店", 0),
    ("ST-004", "Nanjing Xinjiekou", "南京新街口店", 0),
    ("ST-005", "Guangzhou Tianhe", "广州天河店", 1),
    ("ST-006", "Shenzhen Futian", "深圳福田店", 1),
    ("ST-007", "Xiamen Zhongshan Road", "厦门中山路店", 1),
    ("ST-008", "Dongguan Nancheng", "东莞南城店", 1),
    ("ST-009", "Beijing Wangfujing", "北京王府井店", 2),
    ("ST-010", "Beijing Sanlitun", "北京三里屯店", 2),
    ("ST-011", "Tianjin Binjiang Road", "天津滨江道店", 2),
    ("ST-012", "Qingdao Taidong", "青岛台东店", 2),
    ("ST-013", "Chengdu Chunxi Road", "成都春熙路店", 3),
    ("ST-014", "Chongqing Jiefangbei", "重庆解放碑店", 3),
    ("ST-015", "Kunming Nanping Street", "昆明南屏街店", 3),
    ("ST-016", "Guiyang Penshuichi", "贵阳喷水池店", 3),
)
_WAREHOUSES = (
    ("WH-01", "East DC Kunshan", "华东昆山配送中心", 0),
    ("WH-02", "South DC Foshan", "华南佛山配送中心", 1),
    ("WH-03", "Southwest DC Chengdu", "西南成都配送中心", 3),
)
# The planted org unit with a parent that does not exist; nothing references it.
_BAD_UNIT = ("ST-099", "Harbin Central Street", "哈尔滨中央大街店", "R-XX", "store")
_UNKNOWN_UNIT_SALES = "ST-021"
_UNKNOWN_UNIT_COMPLAINTS = "ST-023"


class _OrgUnits:
    """The org units file, and each store's size, growth, NPS target and complaint rate."""

    def _org_units(self) -> None:
        rows = [(_COMPANY[0], _COMPANY[1], _COMPANY[2], None, "company")]
        rows += [(rid, name, zh, "HQ", "region") for rid, name, zh in _REGIONS]
        rows += [(sid, name, zh, _REGIONS[r][0], "store") for sid, name, zh, r in _STORES]
        rows += [(wid, name, zh, _REGIONS[r][0], "warehouse") for wid, name, zh, r in _WAREHOUSES]
        columns = {
            name: pa.array([row[i] for row in rows], pa.string())
            for i, name in enumerate(("org_unit_id", "name", "name_zh", "parent_id", "unit_type"))
        }
        bad = []
        if self.plant:
            unit_id, name, zh, parent, kind = _BAD_UNIT
            bad.append(
                (
                    {
                        "org_unit_id": unit_id,
                        "name": name,
                        "name_zh": zh,
                        "parent_id": parent,
                        "unit_type": kind,
                    },
                    f"unknown parent_id '{parent}'",
                )
            )
        self._write("org_units", "org_units", columns, csv=True, bad=bad)

        rng = self.rng
        self.store_ids = [s[0] for s in _STORES]
        self.store_region = np.array([s[3] for s in _STORES])
        self.store_size = rng.uniform(1.0, 3.0, len(_STORES))
        self.store_growth = rng.uniform(-0.03, 0.25, len(_STORES))
        self.store_nps = rng.uniform(0.20, 0.45, len(_STORES))  # target NPS (promoters - detractors)
        self.store_complaints = 1.5 - 2.0 * (self.store_nps - 0.20)  # more complaints where NPS is low
