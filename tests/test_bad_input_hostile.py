"""Hostile text in the data: names that are templates, scripts or spreadsheet formulas.

Anyone can edit an OSM ``name``; inventories and POI files come from many hands. Such
text must never reach a template engine (folium renders its output a second time as
Jinja) nor a spreadsheet formula, and is shown as the text it is. The run below puts a
payload in every OSM building name of the Nanjing extract, in an inventory's 编号/名称,
an existing facility's name and a community's name, and checks map.html (parsed and in
Chromium), report.xlsx, tables/*.csv and a comparison made from the output.
"""

from __future__ import annotations

import html
import itertools
import re
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
from openpyxl import load_workbook
from shapely.geometry import box
from test_browser import Page, browser  # noqa: F401  (the browser fixture)
from typer.testing import CliRunner

from siting.cli import app
from siting.errors import in_chinese

PWNED = "siting-pwned"
PAYLOADS = [
    "{{7*7}}",
    "{{ lipsum.__globals__.os.popen('touch " + PWNED + "').read() }}",
    "活动室 {{ 2F",
    "{% raw %} {% if %} {# x",
    "`${alert(1)}` </script><script>alert(2)</script>",
    "<img src=x onerror=alert(3)>",
    '=HYPERLINK("http://x","click")',
    "=cmd|' /C calc'!A0",
    "+1+1", "-2+3", "@SUM(1)", "＝1+1",
    "tab\tand\u2028line",
]
FORMULA = re.compile(r"^[=+\-@＝＋－＠\t\r]")


def _hostile_osm(src: Path, dst: Path) -> int:
    """Copy of an .osm file with every ``name`` tag replaced by a payload (cycled)."""
    cycle = itertools.cycle(PAYLOADS)
    text = src.read_text(encoding="utf-8")
    n = 0

    def swap(m: re.Match) -> str:
        nonlocal n
        n += 1
        return f'<tag k="name" v="{html.escape(next(cycle), quote=True)}"'

    dst.write_text(re.sub(r'<tag k="name" v="[^"]*"', swap, text), encoding="utf-8")
    return n


@pytest.fixture(scope="module")
def hostile(nanjing_osm, tmp_path_factory):
    """One CLI run on the Nanjing extract with payloads everywhere; its folders."""
    tmp = tmp_path_factory.mktemp("hostile")
    osm = tmp / "nanjing_hostile.osm"
    assert _hostile_osm(nanjing_osm, osm) > 100
    # the inventory's rows (big floor areas) sit in the middle of the extract
    lon, lat = 118.7843, 32.0415
    rows = [f'"{p.replace(chr(34), chr(34) * 2)}","{q.replace(chr(34), chr(34) * 2)}",'
            f"{lon + 0.001 * k:.5f},{lat + 0.0007 * k:.5f},2000"
            for k, (p, q) in enumerate(zip(PAYLOADS[6:], PAYLOADS))]
    (tmp / "inv.csv").write_text("编号,名称,经度,纬度,建筑面积\n" + "\n".join(rows) + "\n",
                                 encoding="utf-8")
    (tmp / "ex.csv").write_text(
        "name,lon,lat,services\n"
        f'"{PAYLOADS[4].replace(chr(34), chr(34) * 2)}",{lon - 0.002},{lat},health_station\n',
        encoding="utf-8")
    comm = gpd.GeoDataFrame(
        {"社区名称": [PAYLOADS[0], PAYLOADS[6]]},
        geometry=[box(118.77, 32.03, 118.7843, 32.05), box(118.7843, 32.03, 118.80, 32.05)],
        crs="EPSG:4326")
    comm.to_file(tmp / "comm.geojson")
    out = tmp / "out"
    res = CliRunner().invoke(app, [str(a) for a in (
        "run", "--osm", osm, "--out", out, "-p", 6, "--inventory", tmp / "inv.csv",
        "--existing", tmp / "ex.csv", "--communities", tmp / "comm.geojson", "--lang", "en")],
        catch_exceptions=False)
    return tmp, out, res


def test_template_payloads_in_osm_names_do_not_run(hostile, monkeypatch):
    """OSM names `{{7*7}}`, `{{ lipsum…popen(…) }}` and an unbalanced `活动室 {{ 2F` are shown as text, never evaluated."""
    tmp, out, res = hostile
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    assert not (tmp / PWNED).exists() and not Path(PWNED).exists()
    page = (out / "map.html").read_text(encoding="utf-8")
    text = html.unescape(page)
    for p in ("{{7*7}}", "活动室 {{ 2F", PAYLOADS[1]):
        assert p in text, p  # shown as the text it is …
    assert "{{" not in page and "{%" not in page  # … and never as template syntax


def test_chosen_and_listed_names_are_payloads(hostile):
    """Payload names reach every place a name is shown: chosen sites, candidates, communities, existing facilities."""
    _, out, _ = hostile
    sites = gpd.read_file(out / "sites.gpkg")
    hostile_names = sites["name"].isin(PAYLOADS)
    assert hostile_names.sum() >= 2, sites["name"].tolist()
    text = html.unescape((out / "map.html").read_text(encoding="utf-8"))
    for name in sites["name"].dropna():
        assert name in text, name
    assert PAYLOADS[4] in text  # the existing facility
    assert PAYLOADS[6] in text  # a community


def test_script_payloads_stay_text_in_chromium(hostile, browser):  # noqa: F811
    """`</script>`, backticks, `${…}` and `<img onerror>` in names fire no dialog and create no element in the browser map."""
    _, out, _ = hostile
    page = Page(browser, out / "map.html")
    page.check_clean()
    # open every marker's popup (chosen and existing) through Leaflet, read what it shows
    shown = page.page.evaluate("""() => {
        const out = [];
        for (const v of Object.values(window)) {
            if (v instanceof L.Marker && v.getPopup()) {
                v.openPopup();
                out.push(v.getPopup().getElement().innerText);
                if (v.getTooltip()) { v.openTooltip(); out.push(v.getTooltip().getElement().innerText); }
            }
        }
        return out;
    }""")
    assert len(shown) >= 2 * 7
    joined = "\n".join(shown)
    assert sum(p.split("\t")[0] in joined for p in PAYLOADS) >= 2
    assert page.page.locator("img[src='x']").count() == 0
    assert page.page.evaluate("document.scripts.length") < 30
    page.check_clean()
    page.page.close()


def _xlsx_cells(path: Path):
    wb = load_workbook(path)
    for ws in wb:
        for row in ws.iter_rows():
            for cell in row:
                yield ws.title, cell


def test_formula_payloads_are_text_in_report_xlsx(hostile):
    """Names and ids starting with `=`, `+`, `-`, `@` are stored as text in report.xlsx, never as formulas."""
    _, out, _ = hostile
    with zipfile.ZipFile(out / "report.xlsx") as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/")]
        assert sheets and not any("<f>" in z.read(n).decode() for n in sheets)
    cells = [(t, c) for t, c in _xlsx_cells(out / "report.xlsx")
             if isinstance(c.value, str) and FORMULA.match(c.value)]
    assert cells, "the payloads should reach the workbook"
    assert all(c.data_type == "s" for _, c in cells)
    assert {c.value for _, c in cells} & set(PAYLOADS)  # visible text unchanged


def test_formula_payloads_are_neutralised_in_csv(hostile):
    """CSV cells that Excel would run as formulas get a leading `'` (OWASP), other text is unchanged."""
    _, out, _ = hostile
    import pandas as pd

    seen = 0
    for path in [*sorted((out / "tables").glob("*.csv"))]:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        for v in df.to_numpy().ravel():
            assert not FORMULA.match(v), (path.name, v)
            seen += v.lstrip("'") in PAYLOADS and v.startswith("'")
    assert seen >= 1


def test_comparison_of_hostile_folder_is_safe(hostile, tmp_path):
    """A comparison whose scenario name is a formula (`=1+1`) and whose sites are payloads keeps the text inert."""
    import shutil

    _, out, _ = hostile
    item = tmp_path / "=1+1"
    shutil.copytree(out, item)
    res = CliRunner().invoke(app, ["compare", str(item), "--out", str(tmp_path / "cmp")])
    assert res.exit_code == 0, res.output
    cells = [c for _, c in _xlsx_cells(tmp_path / "cmp" / "comparison.xlsx")
             if c.value == "=1+1"]
    assert cells and all(c.data_type == "s" for c in cells)
    csv = (tmp_path / "cmp" / "comparison.csv").read_text(encoding="utf-8-sig")
    assert "'=1+1" in csv and "\n=1+1" not in csv
    page = (tmp_path / "cmp" / "curve.html").read_text(encoding="utf-8")
    assert "<script>alert" not in page


def test_control_characters_do_not_break_the_workbook(tmp_path):
    """A name with control characters (\\x01, \\x1b) is written to report.xlsx (replaced by U+FFFD), not a crash."""
    import pandas as pd

    from siting.report.tables import write_csv, write_workbook

    df = pd.DataFrame({"name": ["a\x01b", "=x\x1b", "ok"], "n": [1, -2, 3]})
    write_workbook({"sites": df}, tmp_path / "t.xlsx", "en")
    values = [c.value for _, c in _xlsx_cells(tmp_path / "t.xlsx")]
    assert "a\ufffdb" in values and "=x\ufffd" in values and -2 in values
    write_csv(df, tmp_path / "t.csv")
    back = pd.read_csv(tmp_path / "t.csv", encoding="utf-8-sig")
    assert back["name"].tolist() == ["a\x01b", "'=x\x1b", "ok"] and back["n"].tolist() == [1, -2, 3]


def test_notebook_map_repr_is_filled(helsinki_osm, monkeypatch, tmp_path):
    """The map shown inline in Jupyter (`_repr_html_`) shows a `{{…}}` site name as text, with no template left."""
    from report_helpers import run_small, with_site_name

    monkeypatch.chdir(tmp_path)
    payload = PAYLOADS[1].replace(PWNED, "pwned-in-notebook")
    result = with_site_name(run_small(helsinki_osm, max_sites=2), payload)
    frame = result.map(lang="en")._repr_html_()
    page = html.unescape(re.search(r'srcdoc="([^"]*)"', frame).group(1))
    assert payload in html.unescape(page) and "{{" not in page
    assert not (tmp_path / "pwned-in-notebook").exists()


def test_encoded_text_is_inert_everywhere():
    """Token replacement: text goes in once, encoded so HTML, JS strings, template literals, JSON and Jinja see no syntax."""
    from siting.report.markup import _encode, _Texts

    texts = _Texts()
    token = texts.token("{{7*7}} <b>")
    other = texts.token(token)  # a name that is itself a token is not expanded again
    page = texts.fill(f"<p>{token}</p><p>{token}x</p><p>{other}</p>")
    assert html.unescape(page) == f"<p>{{{{7*7}}}} <b></p><p>{{{{7*7}}}} <b>x</p><p>{token}</p>"
    encoded = _encode("{{`$\\<>}}'\"%#\n\u2028")
    assert not re.search(r"[{}<>`$\\'\"%#\n\u2028]", re.sub(r"&#\d+;", "", encoded))
    assert html.unescape(encoded) == "{{`$\\<>}}'\"%#\n\u2028"


def test_a_refusal_quoting_a_huge_cell_is_not_parsed_for_chinese():
    """a refusal quoting a huge cell is said in English only (the Chinese parser skips it)"""
    short = "--inventory: a.csv row 2, column 'x': 'big' is not a number"
    assert in_chinese(short) == "--inventory：a.csv 第 2 行，'x' 列：'big' 不是数字"
    assert in_chinese(short.replace("big", "big: " * 300)) is None
