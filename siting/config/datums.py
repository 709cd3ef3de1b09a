"""Names of the coordinate systems a user may give for lon/lat data (``inventory_crs``,
``existing_crs``, ``population_crs`` …): WGS-84, CGCS2000, GCJ-02 (Amap, Tencent) and BD-09
(Baidu). The conversions live in :mod:`siting.io.coords`; the names live here so that the
scenario can check them without importing any reader.
"""

from __future__ import annotations

CRS_ALIASES: dict[str, str] = {
    # WGS-84
    "wgs84": "wgs84",
    "wgs-84": "wgs84",
    "wgs 84": "wgs84",
    "epsg:4326": "wgs84",
    # CGCS2000 (identity at city scale)
    "cgcs2000": "cgcs2000",
    "cgcs-2000": "cgcs2000",
    "cgcs 2000": "cgcs2000",
    "epsg:4490": "cgcs2000",
    # GCJ-02
    "gcj02": "gcj02",
    "gcj-02": "gcj02",
    "gcj": "gcj02",
    "mars": "gcj02",
    "amap": "gcj02",
    "gaode": "gcj02",
    "autonavi": "gcj02",
    "tencent": "gcj02",
    "qq": "gcj02",
    # BD-09 (lon/lat flavour, a.k.a. bd09ll)
    "bd09": "bd09",
    "bd-09": "bd09",
    "bd09ll": "bd09",
    "baidu": "bd09",
}

ACCEPTED_CRS: tuple[str, ...] = tuple(CRS_ALIASES)
"""Every CRS name accepted by :func:`siting.io.coords.to_wgs84`, compared case-insensitively."""


def canonical_crs(crs: object) -> str | None:
    """Map a user CRS name to ``wgs84``/``cgcs2000``/``gcj02``/``bd09``, or None.

    Parameters
    ----------
    crs
        A name such as ``"GCJ-02"``, ``"amap"`` or ``"EPSG:4326"`` (case and spaces ignored).

    Returns
    -------
    str or None
        The canonical datum name; None for anything else (e.g. a projected EPSG code).
    """
    if not isinstance(crs, str):
        return None
    return CRS_ALIASES.get(" ".join(crs.strip().lower().split()))
