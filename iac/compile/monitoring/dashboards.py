"""Grafana dashboards as plain JSON, in ConfigMaps the Grafana sidecar loads.

This module knows Grafana's dashboard model (panels, template variables, annotations) and
nothing about what to show: `iac.compile.monitoring` decides the queries. The JSON is built
from sorted inputs and serialized with sorted keys, so the same release gives the same bytes.
Dashboards that differ only in a name can be written from one `NameTemplate` of their text.

The kube-prometheus-stack Grafana sidecar picks up every ConfigMap labelled
`grafana_dashboard: "1"` in the namespaces it searches (`sidecar.dashboards.searchNamespace`:
set it to `ALL`, or to the stack's namespace).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

SIDECAR_LABEL = "grafana_dashboard"
"""Label the Grafana sidecar watches for (kube-prometheus-stack's default)."""
SCHEMA_VERSION = 39
"""Grafana 10.4's dashboard schema; newer Grafana migrates it on load."""
MAX_UID = 40
"""Grafana's limit on a dashboard uid."""
DATASOURCE_VARIABLE = "datasource"
ENVIRONMENT_VARIABLE = "environment"
ALL = "$__all"
PANEL_WIDTH = 12
PANEL_HEIGHT = 8
GRID_COLUMNS = 24
_DATASOURCE = {"type": "prometheus", "uid": "${" + DATASOURCE_VARIABLE + "}"}


@dataclass(frozen=True, slots=True)
class Target:
    expr: str
    legend: str


@dataclass(frozen=True, slots=True)
class Panel:
    title: str
    description: str
    unit: str
    """A Grafana unit id: `short`, `reqps`, `percentunit`, `s`."""
    targets: tuple[Target, ...]


@dataclass(frozen=True, slots=True)
class Row:
    """A titled row across the dashboard, with its panels under it (two per line)."""

    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True, slots=True)
class Annotation:
    """Events from a Prometheus query: each step where it returns a series is marked."""

    name: str
    expr: str
    title: str
    """Title template, e.g. `{{deployment}} serves {{environment}}`."""
    tag_keys: tuple[str, ...]
    color: str


def dashboard(
    uid: str,
    title: str,
    description: str,
    tags: Sequence[str],
    environments: Sequence[str],
    panels: Sequence[Panel | Row],
    annotations: Sequence[Annotation],
) -> dict[str, Any]:
    """A dashboard with a data source selector and an environment selector (multi-value,
    "All" by default, matching series without an environment too), panels laid out two per
    line; a `Row` is a title across the dashboard with its own panels under it. Queries refer
    to `$environment`; `environment=~"$environment"` is the filter."""
    if len(uid) > MAX_UID:
        raise ValueError(f"dashboard uid {uid!r} is longer than {MAX_UID} characters")
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": list(tags),
        "editable": False,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "timezone": "browser",
        "templating": {"list": [_datasource_variable(), _environment_variable(environments)]},
        "annotations": {"list": [_builtin_annotation(), *(_annotation(a) for a in annotations)]},
        "panels": _layout(panels),
    }


def _layout(items: Sequence[Panel | Row]) -> list[dict[str, Any]]:
    """Grafana's flat panel list: each row's own panel (a line high, across), then its
    panels two per line under it; ids in order from 1."""
    found: list[dict[str, Any]] = []
    top = 0
    loose: list[Panel] = []

    def place(panels: Sequence[Panel]) -> None:
        nonlocal top
        for index, panel in enumerate(panels):
            found.append(_panel(len(found), panel, index, top))
        top += -(-len(panels) // (GRID_COLUMNS // PANEL_WIDTH)) * PANEL_HEIGHT

    for item in items:
        if isinstance(item, Panel):
            loose.append(item)
            continue
        place(loose)
        loose = []
        found.append(_row(len(found), item.title, top))
        top += 1
        place(item.panels)
    place(loose)
    return found


def _row(index: int, title: str, top: int) -> dict[str, Any]:
    return {
        "id": index + 1,
        "type": "row",
        "title": title,
        "collapsed": False,
        "gridPos": {"h": 1, "w": GRID_COLUMNS, "x": 0, "y": top},
        "panels": [],
    }


def config_map(
    name: str, namespace: str, labels: Mapping[str, str], key: str, text: str
) -> dict[str, Any]:
    """A dashboard's JSON text (`render`, or `NameTemplate.fill`) as the one file of a
    ConfigMap, labelled for the Grafana sidecar."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**labels, SIDECAR_LABEL: "1"},
        },
        "data": {key: text},
    }


def render(board: Mapping[str, Any]) -> str:
    """Deterministic JSON text of a dashboard: sorted keys, the dashboard's fields and
    lists indented, and each item of a list (a panel, a variable, an annotation) on a line
    of its own.

    Fully indented JSON (`json.dumps(indent=2)`) is written by json's pure-Python encoder,
    which was the largest single cost of compiling a large stack; this layout writes each
    item with the C encoder and still shows a change to a panel as a changed line
    (docs/benchmarks.md, "What each speed device buys").
    """
    parts: list[str] = []
    _write(board, 0, parts)
    parts.append("\n")
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class NameTemplate:
    """The JSON text of dashboards that differ only in one name: the text between the
    places where the name goes."""

    pieces: tuple[str, ...]

    def fill(self, name: str) -> str:
        """`render` of the board built for `name`: JSON escapes a string one character at a
        time, so where the name went, the text holds the name escaped on its own."""
        return encode_basestring(name)[1:-1].join(self.pieces)


_STAND_INS = ("\x00", "\x01")
"""Two names the template is rendered with. In JSON they are `\\u0000` and `\\u0001`: the same
length, different, and each holds its one backslash first, so two occurrences never overlap."""


def name_template(board_for: Callable[[str], Mapping[str, Any]]) -> NameTemplate | None:
    """The template of the dashboards `board_for(name)` builds, or None when it cannot be
    proven exact.

    `board_for` must only put the name inside strings (never branch on it, never use it as a
    key, never cut or hash it), so the boards of all names render to the same text around
    the places the name goes. The text is rendered with each stand-in and cut at it. Where
    the text around those places holds a stand-in by chance (a string holding `\\u0000`,
    say), only that render is cut there, since the other stand-in differs: the pieces differ.
    So equal pieces prove that every cut is a place of the name.
    """
    first, second = (
        render(board_for(stand_in)).split(encode_basestring(stand_in)[1:-1])
        for stand_in in _STAND_INS
    )
    return NameTemplate(tuple(first)) if first == second else None


def _c_encoder() -> Callable[[object], str]:
    """One C encoder for all values (`json.JSONEncoder.encode` builds a new one per call):
    sorted keys, `, ` and `: ` between items, no circular check (a dashboard is a tree)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has _json
        return json.JSONEncoder(
            sort_keys=True, ensure_ascii=False, check_circular=False, separators=(", ", ": ")
        ).encode
    encoder = make(None, _reject, encode_basestring, None, ": ", ", ", True, False, True)
    return lambda value: "".join(encoder(value, 0))


def _reject(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_encode = _c_encoder()


def _write(value: object, level: int, parts: list[str]) -> None:
    if not value or not isinstance(value, dict | list):
        parts.append(_encode(value))
        return
    pad = "\n" + "  " * (level + 1)
    if isinstance(value, dict):
        separator = "{" + pad
        for key in sorted(value):
            parts.append(separator + encode_basestring(key) + ": ")
            _write(value[key], level + 1, parts)
            separator = "," + pad
        parts.append("\n" + "  " * level + "}")
    else:
        separator = "[" + pad
        for item in value:
            parts.append(separator + _encode(item))
            separator = "," + pad
        parts.append("\n" + "  " * level + "]")


def _datasource_variable() -> dict[str, Any]:
    return {
        "name": DATASOURCE_VARIABLE,
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "hide": 0,
        "current": {"selected": False, "text": "default", "value": "default"},
        "options": [],
    }


def _environment_variable(environments: Sequence[str]) -> dict[str, Any]:
    """A custom list of the model's environments. "All" is `.*`, so it also shows
    deployments that serve no environment (their series carry no `environment` label)."""
    options = [{"selected": True, "text": "All", "value": ALL}]
    options += [{"selected": False, "text": env, "value": env} for env in environments]
    return {
        "name": ENVIRONMENT_VARIABLE,
        "label": "Environment",
        "type": "custom",
        "query": ",".join(environments),
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "hide": 0,
        "current": {"selected": True, "text": ["All"], "value": [ALL]},
        "options": options,
    }


def _builtin_annotation() -> dict[str, Any]:
    """Grafana's own annotations and alerts (every dashboard has it)."""
    return {
        "name": "Annotations & Alerts",
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "type": "dashboard",
    }


def _annotation(annotation: Annotation) -> dict[str, Any]:
    # The Prometheus data source reads these top-level fields (and moves them into a query
    # target when the dashboard is opened).
    return {
        "name": annotation.name,
        "datasource": dict(_DATASOURCE),
        "enable": True,
        "hide": False,
        "iconColor": annotation.color,
        "expr": annotation.expr,
        "step": "60s",
        "titleFormat": annotation.title,
        "tagKeys": ",".join(annotation.tag_keys),
        "textFormat": "",
        "useValueForTime": False,
    }


def _panel(index: int, panel: Panel, place: int, top: int) -> dict[str, Any]:
    """Panel number `index` of the dashboard, the `place`-th of its lines from `top`."""
    per_row = GRID_COLUMNS // PANEL_WIDTH
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": panel.title,
        "description": panel.description,
        "datasource": dict(_DATASOURCE),
        "gridPos": {
            "h": PANEL_HEIGHT,
            "w": PANEL_WIDTH,
            "x": (place % per_row) * PANEL_WIDTH,
            "y": top + (place // per_row) * PANEL_HEIGHT,
        },
        "fieldConfig": {"defaults": {"unit": panel.unit, "min": 0}, "overrides": []},
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": [
            {
                "refId": chr(ord("A") + number),
                "datasource": dict(_DATASOURCE),
                "expr": target.expr,
                "legendFormat": target.legend,
                "range": True,
            }
            for number, target in enumerate(panel.targets)
        ],
    }
