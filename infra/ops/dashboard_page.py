"""The dashboard as one self-contained HTML page: each widget drawn as inline SVG, no network."""

from __future__ import annotations

import html
import json
import math
import time
from typing import Any

GRID_COLUMNS = 24
ROW_PX = 46
COLUMN_PX = 52
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
STATE_COLOURS = {"OK": "#2ca02c", "ALARM": "#d62728", "INSUFFICIENT_DATA": "#7f7f7f"}
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 52, 52, 8, 22

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px; background: #f2f3f3; color: #16191f; }
header { display: flex; gap: 16px; align-items: baseline; flex-wrap: wrap; }
header h1 { font-size: 20px; margin: 0; }
header p { margin: 0; color: #545b64; }
.grid { display: grid; grid-template-columns: repeat(24, minmax(0, 1fr)); grid-auto-rows: 46px;
        gap: 8px; margin-top: 12px; }
.widget { background: #fff; border: 1px solid #d5dbdb; border-radius: 4px; padding: 8px 10px;
          overflow: hidden; display: flex; flex-direction: column; }
.widget h2 { font-size: 14px; margin: 0 0 4px; }
.widget svg { flex: 1; min-height: 0; width: 100%; }
.axis text, .tick { font-size: 10px; fill: #545b64; }
.gridline { stroke: #e9ebed; }
.legend { list-style: none; margin: 4px 0 0; padding: 0; display: flex; flex-wrap: wrap; gap: 2px 14px;
          font-size: 12px; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 2px; }
.legend b { font-weight: 600; margin-left: 4px; }
.nodata { fill: #879596; font-size: 12px; }
.alarms { list-style: none; margin: 0; padding: 0; }
.alarms li { display: flex; justify-content: space-between; border-bottom: 1px solid #eaeded;
             padding: 4px 0; }
.state { border-radius: 3px; color: #fff; padding: 0 6px; font-size: 12px; }
.text h2 { font-size: 18px; }
#tip { position: absolute; white-space: pre; background: #232f3e; color: #fff; font-size: 12px;
       padding: 4px 8px; border-radius: 3px; pointer-events: none; }
.cursor { stroke: #879596; stroke-dasharray: 2 2; }
"""

# The page's script: how long ago the data was read, and each chart's values under the pointer.
SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById("dashboard-data").textContent);
  var stamp = document.getElementById("generated");
  var tip = document.getElementById("tip");
  function refresh() {
    var seconds = Math.max(0, Math.round(Date.now() / 1000 - Number(stamp.dataset.epoch)));
    stamp.textContent = seconds < 120 ? seconds + " s ago" : Math.round(seconds / 60) + " min ago";
  }
  function clock(t) { return new Date(t * 1000).toISOString().substring(11, 19); }
  function format(v) {
    return Math.abs(v) >= 100 ? Math.round(v).toLocaleString("en") : String(Math.round(v * 1000) / 1000);
  }
  function nearest(points, t) {
    var best = null;
    points.forEach(function (p) {
      if (best === null || Math.abs(p[0] - t) < Math.abs(best[0] - t)) best = p;
    });
    return best !== null && Math.abs(best[0] - t) <= data.period ? best : null;
  }
  function follow(section) {
    var widget = data.widgets[Number(section.dataset.index)];
    var svg = section.querySelector("svg.chart");
    var plot = svg.dataset.plot.split(",").map(Number);  // left, right, width of the viewBox
    var cursor = svg.querySelector("line.cursor");
    svg.addEventListener("mousemove", function (event) {
      var box = svg.getBoundingClientRect();
      var x = (event.clientX - box.left) / box.width * plot[2];
      var fraction = Math.min(1, Math.max(0, (x - plot[0]) / (plot[1] - plot[0])));
      var t = data.start + fraction * (data.end - data.start);
      var lines = [clock(t) + " UTC"];
      widget.series.forEach(function (s) {
        var point = nearest(s.points, t);
        lines.push(s.label + ": " + (point === null ? "-" : format(point[1])));
      });
      cursor.setAttribute("x1", x);
      cursor.setAttribute("x2", x);
      cursor.setAttribute("visibility", "visible");
      tip.textContent = lines.join("\\n");
      tip.hidden = false;
      tip.style.left = (event.pageX + 14) + "px";
      tip.style.top = (event.pageY + 14) + "px";
    });
    svg.addEventListener("mouseleave", function () {
      tip.hidden = true;
      cursor.setAttribute("visibility", "hidden");
    });
  }
  refresh();
  setInterval(refresh, 5000);
  document.querySelectorAll("section.widget[data-type=metric]").forEach(follow);
})();
"""


def number(value: float) -> str:
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.3g}"


def clock(epoch_s: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(epoch_s))


def render_page(data: dict[str, Any]) -> str:
    span = (float(data["start"]), float(data["end"]))
    widgets = "\n".join(_widget(w, span, index) for index, w in enumerate(data["widgets"]))
    window = f"{clock(data['start'])} to {clock(data['end'])} UTC, {data['period']} s per point"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(data["title"])}</title>
<style>{STYLE}</style></head>
<body>
<header><h1>{html.escape(data["title"])}</h1><p>{window}</p>
<p>read <span id="generated" data-epoch="{data["end"]:.0f}">{clock(data["end"])} UTC</span>
from {html.escape(data.get("source", "CloudWatch"))}</p></header>
<main class="grid">
{widgets}
</main>
<div id="tip" hidden></div>
<script id="dashboard-data" type="application/json">{_json_for_script(data)}</script>
<script>{SCRIPT}</script>
</body></html>
"""


def _json_for_script(data: dict[str, Any]) -> str:
    return json.dumps(data).replace("</", "<\\/")


def _place(widget: dict[str, Any]) -> str:
    return (
        f"grid-column: {int(widget['x']) + 1} / span {min(GRID_COLUMNS, int(widget['width']))}; "
        f"grid-row: {int(widget['y']) + 1} / span {int(widget['height'])};"
    )


def _widget(widget: dict[str, Any], span: tuple[float, float], index: int) -> str:
    kind = widget["type"]
    if kind == "metric":
        body = _chart(widget, span)
    elif kind == "alarm":
        body = _alarms(widget["alarms"])
    elif kind == "text":
        body = _markdown(widget.get("markdown", ""))
    else:
        body = f"<p>widget type {html.escape(kind)} is not drawn here</p>"
    title = f"<h2>{html.escape(widget['title'])}</h2>" if widget.get("title") else ""
    kind_attr, title_attr = html.escape(kind), html.escape(widget.get("title", ""))
    return (
        f'<section class="widget {kind_attr}" data-index="{index}" data-type="{kind_attr}" '
        f'data-title="{title_attr}" '
        f'style="{_place(widget)}">{title}{body}</section>'
    )


def _markdown(text: str) -> str:
    """Headings and paragraphs: all a text widget here uses."""
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            out.append(f"<h2>{html.escape(stripped.lstrip('#').strip())}</h2>")
        elif stripped:
            out.append(f"<p>{html.escape(stripped)}</p>")
    return "".join(out)


def _alarms(alarms: list[dict[str, str]]) -> str:
    items = []
    for alarm in alarms:
        colour = STATE_COLOURS.get(alarm["state"], "#aab7b8")
        items.append(
            f'<li data-alarm="{html.escape(alarm["name"])}"><span>{html.escape(alarm["name"])}</span>'
            f'<span class="state" style="background:{colour}">{html.escape(alarm["state"])}</span></li>'
        )
    return f'<ul class="alarms">{"".join(items)}</ul>'


def _chart(widget: dict[str, Any], span: tuple[float, float]) -> str:
    width = int(widget["width"]) * COLUMN_PX
    height = max(60, int(widget["height"]) * ROW_PX - 70)
    series = widget["series"]
    start, end = span
    plot_w, plot_h = width - PAD_LEFT - PAD_RIGHT, height - PAD_TOP - PAD_BOTTOM
    parts: list[str] = []
    scales = {}
    for axis in ("left", "right"):
        on_axis = [s for s in series if s["axis"] == axis]
        peak = _stacked_peak(on_axis) if widget.get("stacked") else _peak(on_axis)
        scales[axis] = _nice(peak)
    parts.extend(_grid(scales, width, plot_w, plot_h, start, end, any(s["axis"] == "right" for s in series)))

    def x_of(t: float) -> float:
        return PAD_LEFT + (t - start) / max(1.0, end - start) * plot_w

    def y_of(v: float, axis: str) -> float:
        return PAD_TOP + plot_h - v / scales[axis] * plot_h

    base: dict[float, float] = {}
    stacked_times = sorted({t for s in series if s["axis"] == "left" for t, _ in s["points"]})
    for index, s in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        points = s["points"]
        if not points:
            continue
        if widget.get("stacked") and s["axis"] == "left":
            # Stacked series share every time: where one has no point it adds nothing.
            values = dict(points)
            points = [(t, values.get(t, 0.0)) for t in stacked_times]
            lower = [(t, base.get(t, 0.0)) for t, _ in points]
            upper = [(t, base.get(t, 0.0) + v) for t, v in points]
            for t, v in upper:
                base[t] = v
            outline = [(x_of(t), y_of(v, "left")) for t, v in upper]
            floor = [(x_of(t), y_of(v, "left")) for t, v in reversed(lower)]
            parts.append(
                f'<polygon class="series" data-label="{html.escape(s["label"])}" fill="{colour}" '
                f'fill-opacity="0.35" stroke="none" points="{_coords(outline + floor)}"/>'
            )
            if not any(v for _, v in points):
                continue  # a band of nothing: its line would only hide the ones below it
        else:
            outline = [(x_of(t), y_of(v, s["axis"])) for t, v in points]
        dash = ' stroke-dasharray="5 3"' if s["axis"] == "right" else ""
        parts.append(
            f'<polyline class="series" data-label="{html.escape(s["label"])}" fill="none" stroke="{colour}" '
            f'stroke-width="2"{dash} points="{_coords(outline)}"/>'
        )
        if len(points) == 1:
            x, y = outline[0]
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>')
    if not any(s["points"] for s in series):
        middle = f'x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle"'
        parts.append(f'<text class="nodata" {middle}>no data</text>')
    parts.append(
        f'<line class="cursor" x1="0" x2="0" y1="{PAD_TOP}" y2="{PAD_TOP + plot_h}" visibility="hidden"/>'
    )
    svg = (
        f'<svg class="chart" viewBox="0 0 {width} {height}" preserveAspectRatio="none" role="img" '
        f'data-plot="{PAD_LEFT},{PAD_LEFT + plot_w},{width}" '
        f'data-series="{sum(1 for s in series if s["points"])}">{"".join(parts)}</svg>'
    )
    return svg + _legend(series)


def _legend(series: list[dict[str, Any]]) -> str:
    items = []
    for index, s in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        if s["total"] is not None:
            summary, attr = f"total {number(s['total'])}", f' data-total="{s["total"]:g}"'
        elif s["peak"] is not None:
            summary, attr = f"max {number(s['peak'])}", f' data-peak="{s["peak"]:g}"'
        else:
            summary, attr = "no data", ""
        items.append(
            f'<li data-label="{html.escape(s["label"])}" data-metric="{html.escape(s["metric"])}"{attr}>'
            f'<i style="background:{colour}"></i>{html.escape(s["label"])}<b>{summary}</b></li>'
        )
    return f'<ul class="legend">{"".join(items)}</ul>'


def _grid(
    scales: dict[str, float], width: int, plot_w: int, plot_h: int, start: float, end: float, right: bool
) -> list[str]:
    parts = ['<g class="axis">']
    for step in range(5):
        y = PAD_TOP + plot_h - step / 4 * plot_h
        parts.append(
            f'<line class="gridline" x1="{PAD_LEFT}" x2="{PAD_LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        left_label, right_label = number(scales["left"] * step / 4), number(scales["right"] * step / 4)
        parts.append(f'<text x="{PAD_LEFT - 4}" y="{y + 3:.1f}" text-anchor="end">{left_label}</text>')
        if right:
            parts.append(f'<text x="{PAD_LEFT + plot_w + 4}" y="{y + 3:.1f}">{right_label}</text>')
    for step in range(4):
        t = start + (end - start) * step / 3
        x = PAD_LEFT + plot_w * step / 3
        anchor = "start" if step == 0 else ("end" if step == 3 else "middle")
        parts.append(
            f'<text x="{x:.1f}" y="{PAD_TOP + plot_h + 15}" text-anchor="{anchor}">{clock(t)}</text>'
        )
    parts.append("</g>")
    return parts


def _coords(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def _peak(series: list[dict[str, Any]]) -> float:
    return max((v for s in series for _, v in s["points"]), default=0.0)


def _stacked_peak(series: list[dict[str, Any]]) -> float:
    sums: dict[float, float] = {}
    for s in series:
        for t, v in s["points"]:
            sums[t] = sums.get(t, 0.0) + v
    return max(sums.values(), default=0.0)


def _nice(peak: float) -> float:
    """The axis maximum: 1, 2 or 5 times a power of ten, at or above the peak."""
    if peak <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(peak))
    for factor in (1, 2, 5, 10):
        if factor * power >= peak:
            return factor * power
    return 10 * power
