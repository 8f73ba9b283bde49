"""The printable 进展情况表 (/report/<code>, SPEC 8) printed to PDF by headless Chromium.

Every page of the PDF is A4 landscape (842 × 595 pt), and with print media emulated at the
printable width of that page (297 mm − 2 × 8 mm margins) no table runs past the page. With
pdftoppm installed the pages are also rendered to PNG (REPORT_PNG_DIR, default a temp dir)
for a person to look at.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import CITY, COUNTY, wait_for

pytestmark = pytest.mark.browser

A4_LANDSCAPE_PT = (841.89, 595.28)  # 297 × 210 mm at 72 pt per inch
PRINTABLE_PX = round((297 - 16) / 25.4 * 96)  # the page's width inside its 8 mm margins

FIT_JS = """
var out = [], limit = arguments[0];
document.querySelectorAll('table, h1, p, caption').forEach(function (el) {
  var r = el.getBoundingClientRect();
  if (r.right > limit - 1 || el.scrollWidth > el.clientWidth + 1)  // a border on the edge is cut
    out.push([el.tagName, Math.round(r.right), el.scrollWidth, el.clientWidth]);
});
return [out, document.documentElement.scrollWidth];
"""


def media_boxes(pdf: bytes) -> list[tuple[float, float]]:
    """(width, height) in points of every page's MediaBox."""
    boxes = re.findall(rb"/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    return [(float(x1) - float(x0), float(y1) - float(y0)) for x0, y0, x1, y1 in boxes]


def print_pdf(browser: Any, path: str) -> bytes:
    """The page at `path` printed to PDF with its own @page size."""
    browser.get(browser.base + path)
    wait_for(lambda: browser.execute_script(
        "return document.querySelector('.report-table') && document.fonts.status==='loaded'"),
        what="the report table")
    out = browser.execute_cdp_cmd("Page.printToPDF", {
        "preferCSSPageSize": True, "printBackground": True})
    return base64.b64decode(out["data"])


@pytest.mark.parametrize(("code", "lang"), [(CITY, "zh"), (COUNTY, "en")])
def test_report_prints_on_a4(browser: Any, code: str, lang: str) -> None:
    pdf = print_pdf(browser, f"/report/{code}?lang={lang}")
    assert pdf.startswith(b"%PDF")
    boxes = media_boxes(pdf)
    assert boxes, "no page in the PDF"
    for w, h in boxes:
        assert w == pytest.approx(A4_LANDSCAPE_PT[0], abs=2)
        assert h == pytest.approx(A4_LANDSCAPE_PT[1], abs=2)
    assert len(boxes) <= 4  # a county or city table is a meeting handout, not a book

    # Print media at the printable width: nothing runs past the right edge.
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": PRINTABLE_PX, "height": 794, "deviceScaleFactor": 1, "mobile": False})
    try:
        over, page_width = browser.execute_script(FIT_JS, PRINTABLE_PX)
        assert over == [] and page_width <= PRINTABLE_PX + 1, (over, page_width)
        hidden = browser.execute_script(
            "return getComputedStyle(document.querySelector('.report-actions')).display")
        assert hidden == "none"  # buttons and links stay off the paper
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})

    if shutil.which("pdftoppm"):
        folder = Path(os.environ.get("REPORT_PNG_DIR") or tempfile.mkdtemp(prefix="report-"))
        folder.mkdir(parents=True, exist_ok=True)
        pdf_path = folder / f"report-{code}-{lang}.pdf"
        pdf_path.write_bytes(pdf)
        subprocess.run(["pdftoppm", "-png", "-r", "60", str(pdf_path),
                        str(folder / f"report-{code}-{lang}")], check=True, timeout=60)
        assert len(list(folder.glob(f"report-{code}-{lang}*.png"))) == len(boxes)
