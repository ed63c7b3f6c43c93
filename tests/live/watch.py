"""Watching pods on a live cluster, so that a test sees every pod that ever existed.

Sampling (`kubectl get pods` now and then) misses a pod that starts and is deleted between
two samples; a watch does not: the API server sends every ADDED, MODIFIED and DELETED event
from the moment it starts.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.live.cluster import LiveCluster


@dataclass(frozen=True)
class PodEvent:
    type: str  # ADDED, MODIFIED, DELETED
    name: str
    labels: dict[str, str]
    phase: str | None


@dataclass
class PodWatch:
    """The events of one `kubectl get pods --watch` (see :func:`watch_pods`)."""

    output: Path

    def events(self) -> list[PodEvent]:
        text = self.output.read_text()
        decoder = json.JSONDecoder()
        events: list[PodEvent] = []
        position = 0
        while True:
            while position < len(text) and text[position].isspace():
                position += 1
            if position >= len(text):
                return events
            try:
                event, position = decoder.raw_decode(text, position)
            except json.JSONDecodeError:
                return events  # the last event is still being written
            pod: dict[str, Any] = event["object"]
            events.append(
                PodEvent(
                    type=event["type"],
                    name=pod["metadata"]["name"],
                    labels=pod["metadata"].get("labels") or {},
                    phase=(pod.get("status") or {}).get("phase"),
                )
            )

    def pods(self, **labels: str) -> set[str]:
        """The names of every pod seen with these labels, whatever became of it."""
        return {
            e.name for e in self.events() if all(e.labels.get(k) == v for k, v in labels.items())
        }


@contextmanager
def watch_pods(cluster: LiveCluster, namespace: str, work: Path) -> Iterator[PodWatch]:
    """Watch every pod of ``namespace`` (which need not exist yet) while the block runs."""
    output = work / f"pod-watch-{namespace}.json"
    with output.open("w") as sink:
        process = subprocess.Popen(
            [str(cluster.bin_dir / "kubectl"), "--kubeconfig", str(cluster.kubeconfig),
             "get", "pods", "-n", namespace, "--watch", "--output-watch-events", "-o", "json"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        time.sleep(1.0)  # the watch is open before the block creates anything
        if process.poll() is not None:
            raise RuntimeError(f"kubectl get pods --watch exited: {output.read_text()}")
        yield PodWatch(output)
        time.sleep(1.0)  # the last events reach the file
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class ObjectWatch:
    """The events of one `kubectl get RESOURCE --watch` (see :func:`watch_objects`)."""

    output: Path

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        """(type, object) of every event so far, in the order the API server sent them."""
        text = self.output.read_text()
        decoder = json.JSONDecoder()
        events: list[tuple[str, dict[str, Any]]] = []
        position = 0
        while True:
            while position < len(text) and text[position].isspace():
                position += 1
            if position >= len(text):
                return events
            try:
                event, position = decoder.raw_decode(text, position)
            except json.JSONDecodeError:
                return events  # the last event is still being written
            events.append((event["type"], event["object"]))


@contextmanager
def watch_objects(
    cluster: LiveCluster, resource: str, namespace: str, work: Path
) -> Iterator[ObjectWatch]:
    """Watch every object of ``resource`` (`pods`, `httproutes`) in ``namespace`` while the
    block runs, whole objects (conditions, specs) and not only what :class:`PodEvent` keeps."""
    output = work / f"watch-{resource}-{namespace}.json"
    with output.open("w") as sink:
        process = subprocess.Popen(
            [str(cluster.bin_dir / "kubectl"), "--kubeconfig", str(cluster.kubeconfig),
             "get", resource, "-n", namespace, "--watch", "--output-watch-events", "-o", "json"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        time.sleep(1.0)  # the watch is open before the block changes anything
        if process.poll() is not None:
            raise RuntimeError(f"kubectl get {resource} --watch exited: {output.read_text()}")
        yield ObjectWatch(output)
        time.sleep(1.0)  # the last events reach the file
    finally:
        process.terminate()
        process.wait(timeout=10)
