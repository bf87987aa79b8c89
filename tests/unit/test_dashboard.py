"""The dashboard template.yaml deploys: what it shows, and the page drawn from it."""

from __future__ import annotations

import json
import re
from typing import Any

from infra.local.template import load_template
from infra.ops.dashboard_page import render_page


def declared() -> list[dict[str, Any]]:
    body = load_template()["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets: list[dict[str, Any]] = json.loads(re.sub(r"\$\{([^}]+)\}", r"\1", body))["widgets"]
    return widgets


def drawn_metrics() -> set[tuple[str, str, str]]:
    """(namespace, metric, stat) of every series of the dashboard."""
    found = set()
    for widget in declared():
        properties = widget["properties"]
        for row in properties.get("metrics", []):
            options = row[-1] if isinstance(row[-1], dict) else {}
            found.add((row[0], row[1], options.get("stat", properties.get("stat", "Average"))))
    return found


def test_the_dashboard_shows_what_operators_watch_and_every_alarm() -> None:
    shown = drawn_metrics()
    for wanted in [
        ("MetricsNamespace", "RowsPosted", "Sum"),
        ("MetricsNamespace", "RowsFailed", "Sum"),
        ("MetricsNamespace", "RowsRejected", "Sum"),
        ("MetricsNamespace", "ApiCalls429", "Sum"),
        ("MetricsNamespace", "ApiLatency", "p50"),
        ("MetricsNamespace", "ApiLatency", "p90"),
        ("MetricsNamespace", "ApiLatency", "p99"),
        ("MetricsNamespace", "SplitterRows", "Sum"),
        ("MetricsNamespace", "SplitterFailures", "Sum"),
        ("MetricsNamespace", "WorkerFailures", "Sum"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage", "Maximum"),
        ("AWS/Lambda", "ConcurrentExecutions", "Maximum"),
        ("AWS/Lambda", "Throttles", "Sum"),
        ("AWS/Lambda", "Errors", "Sum"),
        ("AWS/Lambda", "Duration", "Maximum"),
    ]:
        assert wanted in shown
    queues = {row[3] for w in declared() for row in w["properties"].get("metrics", []) if row[0] == "AWS/SQS"}
    assert queues == {"WorkQueue.QueueName", "DeadLetterQueue.QueueName", "IntakeDeadLetterQueue.QueueName"}
    (alarm_widget,) = [w for w in declared() if w["type"] == "alarm"]
    alarms = {
        lid for lid, spec in load_template()["Resources"].items() if spec["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert set(alarm_widget["properties"]["alarms"]) == {f"{lid}.Arn" for lid in alarms}


def test_the_stack_outputs_the_dashboard() -> None:
    outputs = load_template()["Outputs"]
    assert outputs["DashboardName"]["Value"] == {"Ref": "Dashboard"}
    assert "#dashboards:name=${Dashboard}" in outputs["DashboardUrl"]["Value"]["Fn::Sub"]


def test_the_page_is_self_contained() -> None:
    # GIVEN every widget of the dashboard with one point per series
    widgets = []
    for widget in declared():
        entry = {**widget, **{"title": widget["properties"].get("title", "")}}
        if widget["type"] == "metric":
            entry["series"] = [
                {"label": row[1], "stat": "Sum", "axis": "left", "metric": row[1], "points": [[10.0, 2.0]]}
                | {"total": 2.0, "peak": 2.0}
                for row in widget["properties"]["metrics"]
            ]
        elif widget["type"] == "alarm":
            entry["alarms"] = [{"name": "a", "state": "OK"}]
        else:
            entry["markdown"] = widget["properties"]["markdown"]
        widgets.append(entry)
    page = render_page({"title": "t", "start": 0.0, "end": 60.0, "period": 1, "widgets": widgets})
    # THEN it draws a section per widget and loads nothing from anywhere
    assert page.count('<section class="widget') == len(widgets)
    assert page.count('<svg class="chart"') == sum(1 for w in widgets if w["type"] == "metric")
    assert not re.search(r"""(src|href)\s*=|@import|url\(""", page)
