"""A scenario whose study area splits by itself: a 5-minute life circle in Nanjing.

Every service within 5 minutes' walk (五分钟生活圈) and the area standard's reach at 5
minutes: on the real Xinjiekou extract (a network cut by elevated roads) the embedded
model falls into 5 groups of demand and sites sharing only the budget, the largest with
over two thirds of the model (so ``decompose = "auto"`` solves it whole). Used by the
decomposition's scenario, CLI and batch tests.
"""

from __future__ import annotations

from pathlib import Path

from siting.config.policy import load_policy

BBOX = (118.770, 32.038, 118.785, 32.048)


def life_circle_toml(folder: Path, osm: Path, minutes: float = 5.0, **keys) -> Path:
    """Write ``folder/circle<minutes>.toml`` (embedded, 5 M CNY, ``minutes``' walks) with ``keys``.

    At 4 minutes the area falls into 6 groups, the largest a third of the model.
    """
    lines = [f'osm = "{Path(osm).as_posix()}"', f"bbox = {list(BBOX)}", 'model = "embedded"',
             "budget = 5e6", 'standard_mode = "off"', "time_limit = 3", "mip_gap = 0.01"]
    lines += [f"{k} = {v!r}".replace("'", '"') for k, v in keys.items()]
    lines += ["[policy.area_standard]", f"reach_min = {float(minutes)}"]
    for s in load_policy().active_services:
        lines += [f"[policy.services.{s}]", f"walk_min = {float(minutes)}"]
    path = folder / f"circle{minutes:g}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
