"""report.pdf: the printable review-meeting pack written into every run folder."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from siting.cli import app
from siting.report.pdf import headline, write_pdf

from report_helpers import run_small, with_site_name

pymupdf = pytest.importorskip("pymupdf", reason="pymupdf is not installed (pip install '.[test]')")

ARTIFACTS = Path(__file__).parent / "artifacts"
CJK = re.compile(r"[\u4e00-\u9fff]")


def _run(args: list[str]) -> None:
    res = CliRunner().invoke(app, ["run", *args])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert ("printable report: " in res.output or "打印报告：" in res.output) \
        and "report.pdf" in res.output


@pytest.fixture(scope="module")
def nanjing_run(nanjing_osm, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pdf") / "nanjing"
    _run(["--osm", str(nanjing_osm), "--model", "embedded", "--budget", "2e7",
          "--time-limit", "10", "--out", str(out)])
    return out


@pytest.fixture(scope="module")
def helsinki_run(helsinki_osm, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pdf") / "helsinki"
    _run(["--osm", str(helsinki_osm), "-p", "3", "--lang", "en", "--out", str(out)])
    return out


def _text(pdf: Path) -> str:
    with pymupdf.open(pdf) as doc:
        return "\n".join(page.get_text() for page in doc)


def _need_cjk_font() -> None:
    """Skip where the machine has no CJK font (.ci/run installs fonts-wqy-zenhei): the zh
    report is then English by design (test_zh_without_cjk_font_falls_back_to_english)."""
    from siting.report.fonts import cjk_font

    if cjk_font() is None:
        pytest.skip("no CJK font installed (apt-get install fonts-wqy-zenhei)")


def _embedded(doc, xref: int) -> bool:
    """Whether font ``xref`` carries its font program (``extract_font`` returns its bytes)."""
    return len(doc.extract_font(xref)[3] or b"") > 0


def test_nanjing_report_pdf_cover_numbers_and_chinese(nanjing_run):
    _need_cjk_font()
    pdf = nanjing_run / "report.pdf"
    assert pdf.exists()
    marker = json.loads((nanjing_run / ".siting-output.json").read_text(encoding="utf-8"))
    assert "report.pdf" in marker["files"]
    summary = json.loads((nanjing_run / "summary.json").read_text(encoding="utf-8"))
    with pymupdf.open(pdf) as doc:
        cover = doc[0]
        assert abs(cover.rect.width - 595) < 2 and abs(cover.rect.height - 842) < 2  # A4
        cover_text = cover.get_text()
        ARTIFACTS.mkdir(exist_ok=True)
        for i in range(min(len(doc), 3)):
            name = "report_cover.png" if i == 0 else f"report_page{i + 1}.png"
            doc[i].get_pixmap(dpi=100).save(ARTIFACTS / name)
    for name, value in headline(summary, "zh"):
        assert name in cover_text and value in cover_text, (name, value)
    # the numbers themselves, as printed
    assert f"{summary['covered_population']:,.0f} / {summary['total_population']:,.0f}" in cover_text
    assert f"{summary['cost_total']:,.0f} / {summary['budget']:,.0f}" in cover_text
    assert f"{summary['communities_meeting_standard']} / {summary['communities_total']}" in cover_text
    assert f"{100 * summary['mip_gap']:.1f} %" in cover_text
    for v in summary["served_by_service"].values():
        assert f"{v:,.0f}" in cover_text
    text = _text(pdf)
    assert CJK.search(cover_text) and "城市社区嵌入式服务设施" in cover_text
    assert "规划布局图" in text and "社区达标" in text and "假设与数据来源" in text


def test_nanjing_report_pdf_fonts_embedded(nanjing_run):
    _need_cjk_font()
    pdf = nanjing_run / "report.pdf"
    with pymupdf.open(pdf) as doc:
        fonts = {f[0]: f for page in doc for f in page.get_fonts(full=True)}
        assert fonts
        for xref, f in fonts.items():
            assert f[1] != "n/a" and _embedded(doc, xref), f  # no font left to the viewer
    names = [f[3] for f in fonts.values()]
    assert any(re.search(r"wenquanyi|wqy|cjk|hei|han|song", n, re.IGNORECASE) for n in names), names


def test_helsinki_report_pdf_english_no_cjk(helsinki_run):
    pdf = helsinki_run / "report.pdf"
    summary = json.loads((helsinki_run / "summary.json").read_text(encoding="utf-8"))
    text = _text(pdf)
    assert not CJK.search(text)
    assert "Community embedded service facilities plan" in text and "Plan map" in text
    for name, value in headline(summary, "en"):
        assert name in text and value in text
    with pymupdf.open(pdf) as doc:
        assert len(doc) >= 4
        for page in doc:  # portrait or landscape A4
            assert sorted([round(page.rect.width), round(page.rect.height)]) == [595, 842]
        for xref, *_ in {f[0]: f for page in doc for f in page.get_fonts()}.items():
            assert _embedded(doc, xref)


def test_hostile_site_name_drawn_as_text(helsinki_osm, tmp_path):
    result = run_small(helsinki_osm, max_sites=2)
    name = "$\\frac{1}{0}$ <b>x</b> {lang} %s"
    t0 = time.perf_counter()
    notes = write_pdf(with_site_name(result, name), tmp_path / "r.pdf", lang="en")
    assert time.perf_counter() - t0 < 10
    assert notes == []
    assert name in _text(tmp_path / "r.pdf").replace("\n", " ")


def test_chinese_names_in_an_english_pdf_are_drawn(helsinki_osm, tmp_path):
    """An English pack keeps a Chinese name from the data (a site, a policy source) in
    Chinese glyphs: the CJK font is the fallback after DejaVu Sans, never missing boxes."""
    import warnings

    _need_cjk_font()
    result = run_small(helsinki_osm, max_sites=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_pdf(with_site_name(result, "老年食堂 canteen"), tmp_path / "r.pdf", lang="en")
    assert not [w for w in caught if "missing from font" in str(w.message)]
    assert "老年食堂" in _text(tmp_path / "r.pdf")


def test_zh_without_cjk_font_falls_back_to_english(helsinki_osm, tmp_path, monkeypatch):
    monkeypatch.setattr("siting.report.pdf.cjk_font", lambda: None)
    result = run_small(helsinki_osm, max_sites=2)
    notes = write_pdf(result, tmp_path / "r.pdf", lang="zh")
    text = _text(tmp_path / "r.pdf")
    assert notes and "No CJK font" in notes[0]
    assert not CJK.search(text) and "No CJK font" in text.replace("\n", " ")
