"""进展情况表 (SPEC 8): one row per child region and a total row, as XLSX, CSV and a print page.

The rows carry the snapshot's own numbers, unrounded, exactly as the JSON API gives them
(`/api/v1/regions/<code>/metrics`): the main metrics, then for each target the target, the
value done, the completion (done ÷ target) and the 时序进度 (share of the year gone). Leaders'
reports show exact values; nothing here is suppressed, so the routes admit leader and
exchange tokens only (pages: leader).
"""

from __future__ import annotations

import csv
import html
import io
import math
from dataclasses import dataclass, field
from typing import Any

from dashboard.present import expected_share, fmt_datetime, fmt_pct, fmt_value
from layouts.common import metric_label
from layouts.i18n import norm_lang, t
from queries.metrics import DECIMALS, METRIC_KEYS, PERCENT_KEYS, RATIO_KEYS
from queries.safe_cells import safe_row

# The main figures of a progress table, in order; keys the registry lacks are left out.
MAIN_KEYS: tuple[str, ...] = (
    "placements.year",
    "vacancies.open_headcount",
    "jobseekers.active",
    "supply_demand_ratio",
    "unemployment.registered_rate",
    "zero_households.outstanding",
    "circle.coverage",
    "job_fairs.year",
    "trainings.year",
    "loans.year",
    "full_employment.compliant",
    "full_employment.rate",
)
TARGET_PARTS: tuple[str, ...] = ("target", "done", "completion", "expected")
PART_LABEL = {"target": "target", "done": "done", "completion": "completion",
              "expected": "expected"}


@dataclass
class Row:
    """One region of the table: its main values and, per target key, the four target parts."""

    code: str
    name: str
    main: list[float | int | None]
    targets: dict[str, dict[str, float | int | None]] = field(default_factory=dict)
    total: bool = False


@dataclass
class Report:
    """A progress table ready to be written in any format."""

    code: str
    name: str
    lang: str
    as_of: str
    main_keys: list[str]
    target_keys: list[str]
    rows: list[Row]

    def title(self) -> str:
        """The table's title ("合肥市就业工作进展情况表")."""
        return t("report.title", self.lang, name=self.name)

    def header(self) -> list[str]:
        """A flat header: region, code, each main figure, then "<target>·<part>"."""
        lang = self.lang
        cols = [t("report.region", lang), "code" if lang == "en" else "代码"]
        cols += [metric_label(k, lang) for k in self.main_keys]
        for k in self.target_keys:
            cols += [f"{metric_label(k, lang)}·{t(PART_LABEL[p], lang)}" for p in TARGET_PARTS]
        return cols

    def values(self, row: Row) -> list[Any]:
        """A row's cells in header order (None for nothing)."""
        out: list[Any] = [row.name, row.code, *row.main]
        for k in self.target_keys:
            parts = row.targets.get(k) or {}
            out += [parts.get(p) for p in TARGET_PARTS]
        return out


def _num(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


def _target_parts(region: dict[str, Any], key: str, as_of: str) -> dict[str, Any]:
    """Target, done, completion and expected of one key of one region (empty without one)."""
    tgt = (region.get("targets") or {}).get(key)
    if not isinstance(tgt, dict) or _num(tgt.get("target")) is None:
        return {}
    done = _num((region.get("metrics") or {}).get(key))
    completion = _num(tgt.get("completion"))
    if completion is None and done is not None and tgt["target"]:
        completion = done / tgt["target"]
    return {"target": _num(tgt["target"]), "done": done, "completion": completion,
            "expected": expected_share(tgt.get("expected"), as_of)}


def build(region: dict[str, Any], children: list[dict[str, Any]], as_of: str,
          lang: str = "zh") -> Report:
    """The progress table of a region: its children's rows, then its own as the total."""
    lang = norm_lang(lang)
    main = [k for k in MAIN_KEYS if k in METRIC_KEYS]
    everyone = [*children, region]
    wanted = {k for r in everyone for k in (r.get("targets") or {})}
    target_keys = [k for k in METRIC_KEYS if k in wanted]
    rows = []
    for r in everyone:
        metrics = r.get("metrics") or {}
        rows.append(Row(
            code=str(r.get("code")),
            name=str(r.get("name") or r.get("code")),
            main=[_num(metrics.get(k)) for k in main],
            targets={k: _target_parts(r, k, as_of) for k in target_keys},
            total=r is region,
        ))
    if rows and children:
        rows[-1].name = f"{t('report.total', lang)}({rows[-1].name})" if lang == "zh" \
            else f"{t('report.total', lang)} ({rows[-1].name})"
    return Report(code=str(region.get("code")), name=str(region.get("name")), lang=lang,
                  as_of=as_of, main_keys=main, target_keys=target_keys, rows=rows)


# ------------------------------------------------------------------ number formats
def _kind(key: str, part: str | None = None) -> str:
    """share, ratio or count: how a cell of this key (or target part) reads."""
    if part in ("completion", "expected"):
        return "share"
    if key in PERCENT_KEYS:
        return "share"
    if key in RATIO_KEYS:
        return "ratio"
    return "count"


def _excel_format(key: str, part: str | None = None) -> str:
    kind = _kind(key, part)
    if kind == "share":
        return "0.0%"
    if kind == "ratio":
        return "0.00"
    decimals = DECIMALS.get(key, 0)
    return "#,##0" + ("." + "0" * decimals if decimals else "")


def column_formats(report: Report) -> list[tuple[str, str | None]]:
    """(key, target part or None) of every numeric column, in header order after the code."""
    cols: list[tuple[str, str | None]] = [(k, None) for k in report.main_keys]
    for k in report.target_keys:
        cols += [(k, p) for p in TARGET_PARTS]
    return cols


def display(report: Report, key: str, part: str | None, value: Any) -> str:
    """A cell as the print page shows it (the wall's formats: 万, %, two decimals)."""
    if value is None:
        return "—"
    if _kind(key, part) == "share":
        return fmt_pct(value)
    return fmt_value(key, value, report.lang)


# ------------------------------------------------------------------ writers
def to_csv(report: Report) -> bytes:
    """UTF-8 with BOM (Excel opens it right), formula-like text neutralised."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(safe_row(report.header()))
    for row in report.rows:
        writer.writerow(safe_row("" if v is None else v for v in report.values(row)))
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(report: Report) -> bytes:
    """One sheet: title, as-of, a two-level header (target groups merged), rows, total."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    lang = report.lang
    wb = Workbook()
    ws = wb.active
    ws.title = "进展情况表" if lang == "zh" else "Progress"
    header = safe_row(report.header())
    width = len(header)
    bold = Font(bold=True)
    thin = Side(style="thin", color="999999")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    centre = Alignment(horizontal="center", vertical="center", wrap_text=True)
    shade = PatternFill("solid", fgColor="DDEBF7")

    ws.cell(row=1, column=1, value=safe_row([report.title()])[0]).font = Font(bold=True, size=14)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    ws.cell(row=2, column=1, value=f"{t('as_of', lang)} {fmt_datetime(report.as_of, lang)}")
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=width)

    # Row 3: groups (main figures stand alone, each target spans its four parts); row 4: parts.
    n_main = 2 + len(report.main_keys)
    for col in range(1, n_main + 1):
        ws.cell(row=3, column=col, value=header[col - 1])
        ws.merge_cells(start_row=3, start_column=col, end_row=4, end_column=col)
    col = n_main + 1
    for key in report.target_keys:
        ws.cell(row=3, column=col, value=safe_row([metric_label(key, lang)])[0])
        ws.merge_cells(start_row=3, start_column=col, end_row=3, end_column=col + 3)
        for i, part in enumerate(TARGET_PARTS):
            ws.cell(row=4, column=col + i, value=t(PART_LABEL[part], lang))
        col += 4
    for r in (3, 4):
        for c in range(1, width + 1):
            cell = ws.cell(row=r, column=c)
            cell.font, cell.alignment, cell.border, cell.fill = bold, centre, box, shade

    formats = column_formats(report)
    for i, row in enumerate(report.rows):
        excel_row = 5 + i
        for c, value in enumerate(safe_row(report.values(row)), start=1):
            cell = ws.cell(row=excel_row, column=c, value=value)
            cell.border = box
            if c > 2:
                cell.number_format = _excel_format(*formats[c - 3])
            if row.total:
                cell.font = bold
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 15
    for c in range(3, width + 1):
        ws.column_dimensions[get_column_letter(c)].width = 12
    ws.row_dimensions[3].height = 34
    ws.freeze_panes = "C5"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "3:4"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _table(report: Report, cols: list[tuple[str, str | None]], caption: str) -> str:
    """One HTML table of the rows over the given (key, part) columns; target parts sit
    under their target's name (a two-row header, as provincial progress tables have)."""
    esc = html.escape
    lang = report.lang
    region = f"<th scope=\"col\" rowspan=\"2\">{esc(t('report.region', lang))}</th>"
    if all(part is None for _, part in cols):
        head = region.replace(' rowspan="2"', "") + "".join(
            f"<th scope=\"col\">{esc(metric_label(k, lang))}</th>" for k, _ in cols)
        thead = f"<tr>{head}</tr>"
    else:
        keys = list(dict.fromkeys(k for k, _ in cols))
        top = "".join(f"<th scope=\"colgroup\" colspan=\"{len(TARGET_PARTS)}\">"
                      f"{esc(metric_label(k, lang))}</th>" for k in keys)
        sub = "".join(f"<th scope=\"col\">{esc(t(PART_LABEL[p or ''], lang))}</th>"
                      for _, p in cols)
        thead = f"<tr>{region}{top}</tr><tr>{sub}</tr>"
    body = []
    for row in report.rows:
        cells = []
        for key, part in cols:
            value = row.main[report.main_keys.index(key)] if part is None else \
                (row.targets.get(key) or {}).get(part)
            cls = ""
            if part == "completion" and value is not None:
                exp = (row.targets.get(key) or {}).get("expected")
                if exp is not None:
                    cls = " class=\"ahead\"" if value >= exp else " class=\"behind\""
            cells.append(f"<td{cls}>{esc(display(report, key, part, value))}</td>")
        tr_cls = " class=\"total\"" if row.total else ""
        body.append(f"<tr{tr_cls}><th scope=\"row\">{esc(row.name)}</th>{''.join(cells)}</tr>")
    return (f"<table class=\"report-table\"><caption>{esc(caption)}</caption>"
            f"<thead>{thead}</thead><tbody>{''.join(body)}</tbody></table>")


def to_html(report: Report, links: dict[str, str]) -> str:
    """The printable A4 page: the main figures table, then the targets table."""
    lang = report.lang
    esc = html.escape
    main_cols: list[tuple[str, str | None]] = [(k, None) for k in report.main_keys]
    parts = [_table(report, main_cols, t("report.metrics", lang))]
    # Targets in tables of at most three targets (twelve columns) so a page holds them.
    for i in range(0, len(report.target_keys), 3):
        cols: list[tuple[str, str | None]] = [(k, p) for k in report.target_keys[i:i + 3]
                                              for p in TARGET_PARTS]
        parts.append(_table(report, cols, t("report.targets", lang)))
    if not report.target_keys:
        parts.append(f"<p class=\"report-none\">{esc(t('report.no_targets', lang))}</p>")
    actions = "".join(f"<a href=\"{esc(href)}\">{esc(label)}</a>" for label, href in links.items())
    return f"""<!doctype html>
<html lang="{'en' if lang == 'en' else 'zh-CN'}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width">
<title>{esc(report.title())}</title>
<link rel="stylesheet" href="/assets/report.css"></head>
<body class="report-page"><main class="report" data-region="{esc(report.code)}">
<header class="report-head"><h1>{esc(report.title())}</h1>
<p class="as-of">{esc(t('as_of', lang))} {esc(fmt_datetime(report.as_of, lang))}</p>
<nav class="report-actions"><button type="button" onclick="window.print()">{
esc(t('report.print', lang))}</button>{actions}</nav>
</header>
{''.join(parts)}
<p class="report-note">{esc(t('report.note', lang))}</p>
</main></body></html>"""


__all__ = ["build", "to_csv", "to_xlsx", "to_html", "Report", "Row", "MAIN_KEYS"]
