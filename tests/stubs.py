"""In-memory sources for engine and collector tests; each can be told to fail."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from exporter.model import (
    HostUsage,
    IntensitySlot,
    SourceError,
    UsageStep,
    Workspace,
    WorkspaceBatch,
)


@dataclass
class StubUsage:
    usage: list[HostUsage] = field(default_factory=list)
    steps: dict = field(default_factory=dict)
    fail: bool = False
    delay: float = 0.0
    requests: int = 0
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    steps_asked: list = field(default_factory=list)  # the instances of each usage_steps call
    fail_steps: bool = False
    # Set: window_usage answers only once usage_steps was called (or after 5 s).
    totals_after_steps: threading.Event | None = None
    steps_called: threading.Event = field(default_factory=threading.Event)
    answered_after_steps: list = field(default_factory=list)

    def window_fetches(self, end, window_seconds):
        return [lambda: self.window_usage(end, window_seconds)]

    def window_usage_of(self, answers):
        return answers[0]

    def rule_evaluations(self, answers, window_seconds):
        return None

    def window_usage(self, end, window_seconds):
        with self.lock:
            self.requests += 1
            self.calls += 1
        time.sleep(self.delay)
        if self.totals_after_steps is not None:
            self.totals_after_steps.wait(5.0)
            self.answered_after_steps.append(self.steps_called.is_set())
        if self.fail:
            raise SourceError("prometheus is down")
        return list(self.usage)

    def steps_fetches(self, instances, end, window_seconds, step_seconds, handovers=None):
        return [lambda: self.usage_steps(instances, end, window_seconds, step_seconds)]

    def usage_steps_of(self, answers, end, step_seconds):
        return answers[0] if answers else {}  # a failed call's answer is left out

    def usage_steps(self, instances, end, window_seconds, step_seconds):
        with self.lock:
            self.requests += 1
            self.steps_asked.append(sorted(instances))
        self.steps_called.set()
        if self.totals_after_steps is not None:
            self.totals_after_steps.set()
        if self.fail or self.fail_steps:
            raise SourceError("prometheus is down")
        return {k: v for k, v in self.steps.items() if k[0] in instances}


@dataclass
class StubOwnership:
    workspaces_: list[Workspace] = field(default_factory=list)
    skipped: dict = field(default_factory=dict)
    fail: bool = False
    requests: int = 0

    def workspaces(self, start, end, each=None):
        self.requests += 1
        if self.fail:
            raise SourceError("mongodb is down")
        for ws in self.workspaces_ if each is not None else ():
            each(ws)
        return WorkspaceBatch(tuple(self.workspaces_), dict(self.skipped))


@dataclass
class StubIntensity:
    value: float = 100.0
    fail: bool = False
    requests: int = 0
    region: str = "GB"
    seen: list[IntensitySlot] = field(default_factory=list)
    forecast_slots: list[IntensitySlot] = field(default_factory=list)

    def slots(self, start, end):
        self.requests += 1
        if self.fail:
            raise SourceError("intensity API is down")
        t = start.timestamp() // 1800 * 1800
        out = []
        while t <= end.timestamp():
            out.append(IntensitySlot(t, t + 1800, self.value, True))
            t += 1800
        self.seen = out
        return out

    def cached(self, start, end):
        return [s for s in self.seen if s.end > start.timestamp() and s.start < end.timestamp()]

    def forecast(self, at, window_start=None):
        """The slots in ``forecast_slots`` (none by default), as if cached: no request counted."""
        if self.fail:
            raise SourceError("intensity API is down")
        return self.cached_forecast(at)

    def cached_forecast(self, at):
        return list(self.forecast_slots)


def usage(host="172.16.100.50", busy=3600.0, idle=7200.0, project="IDAaaS", machine="Muon"):
    return HostUsage(f"{host}:9100", host, project, machine, busy, idle)


def ws(wid, owner, created, deleted=None, host="172.16.100.50", state="CLAIMED", tag="ISIS"):
    return Workspace(wid, host, host, owner, state, tag, created, deleted)


def steady_steps(end, busy=3600.0, idle=7200.0, window=3600.0, step=60.0):
    n = int(window / step)
    t0 = end - window
    return [UsageStep(t0 + i * step, t0 + (i + 1) * step, busy / n, idle / n) for i in range(n)]
