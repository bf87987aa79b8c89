"""`fanout dashboard` after `fanout run`: the page opened in headless Chromium."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from infra.demo.api import Call, DemoApi, Reply
from infra.local.template import load_template
from tests.e2e.chromium import Page
from tests.e2e.cli import fanout

pytestmark = pytest.mark.e2e

# What each widget on the page says about itself, read in the browser.
WIDGETS_JS = """
Array.from(document.querySelectorAll("section.widget")).map(function (w) {
  var chart = w.querySelector("svg.chart");
  return {
    type: w.dataset.type,
    title: w.dataset.title,
    drawnSeries: chart ? w.querySelectorAll("svg.chart .series").length : null,
    alarms: Array.from(w.querySelectorAll("ul.alarms li")).reduce(function (acc, li) {
      acc[li.dataset.alarm] = li.querySelector(".state").textContent; return acc; }, {}),
    text: w.textContent.trim().length,
    totals: Array.from(w.querySelectorAll(".legend li[data-total]")).reduce(function (acc, li) {
      acc[li.dataset.metric] = Number(li.dataset.total); return acc; }, {})
  };
})
"""


# Moves the pointer over the throughput chart's right half: the values there show in the tip.
HOVER_JS = """
(function () {
  var svg = document.querySelector('section[data-title^="Throughput"] svg.chart');
  var box = svg.getBoundingClientRect();
  svg.dispatchEvent(new MouseEvent("mousemove", {clientX: box.left + box.width * 0.8,
                                                 clientY: box.top + box.height / 2, bubbles: true}));
  var tip = document.getElementById("tip");
  return tip.hidden ? "" : tip.textContent;
})()
"""


def refuse_every_fiftieth(call: Call) -> Reply:
    return Reply(422, body=b'{"error":"no"}') if int(call.payload["id"]) % 50 == 0 else Reply()


def template_widgets() -> list[dict[str, Any]]:
    """The dashboard's widgets as template.yaml declares them (substitutions blanked out)."""
    body = load_template()["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets: list[dict[str, Any]] = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    return widgets


def test_the_page_after_a_run_draws_every_widget_and_its_totals_match_the_report(tmp_path: Path) -> None:
    # GIVEN a finished run of a file with a bad record, against an API that refuses 1 row in 50
    source = tmp_path / "people.csv"
    source.write_text("id,name\n" + "".join(f"{n},person {n}\n" for n in range(1, 601)) + "601\n")
    report_path = tmp_path / "report.json"
    with DemoApi(latency_s=(0.0, 0.002), decide=refuse_every_fiftieth) as api:
        ran = fanout("run", str(source), "--api-url", api.url, "--report", str(report_path))
    assert ran.returncode == 1, ran.stderr
    report = json.loads(report_path.read_text())
    assert (report["rows_posted"], report["rows_failed"], report["rows_rejected"]) == (588, 12, 1)
    # WHEN the dashboard is drawn with no stack running
    page_path = tmp_path / "dashboard.html"
    drawn = fanout("dashboard", "--out", str(page_path), unset=["AWS_ENDPOINT_URL"])
    assert drawn.returncode == 0, drawn.stderr
    # THEN the page loads in a browser without errors
    with Page(page_path.as_uri()) as page:
        widgets = page.evaluate(WIDGETS_JS)
        tip = page.evaluate(HOVER_JS)
        page.screenshot(Path(os.environ.get("FANOUT_SCREENSHOT", tmp_path / "dashboard.png")))
        assert page.errors == []
    # AND every widget of the template's dashboard is there and drew something
    declared = template_widgets()
    assert [w["title"] for w in widgets] == [w["properties"].get("title", "") for w in declared]
    for widget in widgets:
        if widget["type"] == "metric":
            assert widget["drawnSeries"] >= 1, widget
        elif widget["type"] == "alarm":
            assert len(widget["alarms"]) >= 1, widget
        else:
            assert widget["text"] > 0, widget
    # AND pointing at a chart shows its values there
    assert "UTC" in tip and "posted: " in tip and "failed (DLQ): " in tip
    # AND the alarms were evaluated: rows are in the DLQ, and no invocation failed
    (alarms,) = [w["alarms"] for w in widgets if w["type"] == "alarm"]
    assert alarms["fanout-local-DeadLetterQueueAlarm"] == "ALARM"
    assert alarms["fanout-local-WorkerErrorsAlarm"] == "OK"
    # AND its totals are the run's report
    (throughput,) = [w for w in widgets if w["title"].startswith("Throughput")]
    assert throughput["totals"] == {
        "Fanout RowsPosted": report["rows_posted"],
        "Fanout RowsFailed": report["rows_failed"],
        "Fanout RowsRejected": report["rows_rejected"],
        "Fanout RowsCancelled": report["rows_cancelled"],
    }
    (splitter,) = [w for w in widgets if w["title"] == "Splitter progress"]
    assert splitter["totals"]["Fanout SplitterRows"] == report["rows_total"]
