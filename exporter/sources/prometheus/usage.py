"""The usage source over Prometheus: CPU-seconds per host in a constant number of requests.

The window totals are two queries (busy, idle) that the refresh runs side by side;
the steps of the hosts that changed hands are
one more request. See :mod:`.queries` for the PromQL and :mod:`.parse` for the rules.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx

from exporter.config import PrometheusConfig
from exporter.model import HostUsage, SourceError, UsageStep
from exporter.sources.prometheus import handovers as look
from exporter.sources.prometheus import parse, queries
from exporter.sources.prometheus.client import PrometheusClient

log = logging.getLogger("exporter.sources.prometheus")  # the name it has always logged under


class PrometheusUsage:
    """A UsageSource over the Prometheus HTTP API (also Thanos, Mimir, VictoriaMetrics)."""

    def __init__(
        self,
        http: httpx.Client,
        config: PrometheusConfig,
        busy_modes: Sequence[str],
        idle_modes: Sequence[str],
    ) -> None:
        self.client = PrometheusClient(http, config.url, config.timeout_seconds)
        self._config = config
        self._busy = tuple(busy_modes)
        self._idle = tuple(idle_modes)
        self._rules = config.recording_rules if config.source == "recording_rules" else None
        self._heartbeat_seen: bool | None = None

    @property
    def requests(self) -> int:
        return self.client.requests

    def window_fetches(self, end: datetime, window_seconds: float) -> list[Callable[[], Any]]:
        """The busy query and the idle one: Prometheus evaluates each on one core, so the
        refresh sends them side by side."""
        at = round(end.timestamp(), 3)
        texts = queries.window_queries(self._config, self._busy, self._idle, window_seconds)
        return [functools.partial(self.client.query, q, at) for q in texts]

    def window_usage_of(self, answers: Sequence[Any]) -> list[HostUsage]:
        """Every host's CPU-seconds over the window, from the busy and the idle answer."""
        totals: parse.Totals = {}
        flags: parse.Flags = {}
        with _shape_errors():
            for result in answers:
                parse.add_vector(result, self._config.host_label, totals, flags)
            if self._rules is not None:
                self._check_heartbeat(parse.newest_evaluation(answers[0]))
        return parse.usage_rows(totals, flags)[0]

    def window_usage(self, end: datetime, window_seconds: float) -> list[HostUsage]:
        """CPU-seconds per host and group over (end - window, end], one query after the other."""
        return self.window_usage_of([fetch() for fetch in self.window_fetches(end, window_seconds)])

    def _check_heartbeat(self, newest: float | None) -> None:
        """Log when the rules' heartbeat goes missing or comes back (not at every scrape)."""
        seen = newest is not None
        if seen == self._heartbeat_seen:
            return
        if not seen and self._rules is not None:
            log.warning(
                "Prometheus has no sample of %s in the last 5 minutes: the recording rules "
                "have stopped, or were loaded from a prometheus/ada-carbon-rules.yml older "
                "than this exporter. Until it is back, the window totals leave out their "
                "edges: each host's may be off by up to %g s of its usage.",
                self._rules.heartbeat_metric,
                2 * self._rules.interval_seconds,
            )
        elif self._heartbeat_seen is not None:
            log.info("The recording rules' heartbeat is back: the window totals are whole again")
        self._heartbeat_seen = seen

    def steps_fetches(
        self,
        instances: Sequence[str],
        end: datetime,
        window_seconds: float,
        step_seconds: float,
        handovers: Mapping[str, Sequence[float]] | None = None,
    ) -> list[Callable[[], Any]]:
        """The steps of just these instances, one request for all of them, and on the raw
        counters a look at the ``handovers`` (instance -> unix times) at the scrape
        interval (:mod:`.handovers`): the refresh sends the two side by side."""
        c = self._config
        at = round(end.timestamp(), 3)  # Prometheus evaluates at whole milliseconds
        if self._rules is not None:
            query = queries.rule_steps(c, instances, window_seconds)
            return [functools.partial(self.client.query, query, at, "matrix")]
        path = "/api/v1/query_range"
        form = queries.raw_steps(
            c, self._busy, self._idle, instances, at, window_seconds, step_seconds
        )
        fetches: list[Callable[[], Any]] = [
            functools.partial(self.client.post, path, form, "matrix")
        ]
        if handovers and any(handovers.values()):
            form = look.handover_look(c, self._busy, self._idle, handovers, at, step_seconds)
            fetches.append(functools.partial(self.client.post, path, form, "matrix"))
        return fetches

    def usage_steps_of(
        self, answers: Sequence[Any], end: datetime, step_seconds: float
    ) -> dict[parse.Key, list[UsageStep]]:
        """The steps per host and group from the answers of :meth:`steps_fetches`."""
        c = self._config
        at = round(end.timestamp(), 3)
        with _shape_errors():
            if self._rules is not None:
                return parse.rule_steps(answers[0], self._rules, at, c.host_label)
            steps = parse.tiles(
                answers[0], "class", parse.CLASSES, step_seconds, 2 * step_seconds, at, c.host_label
            )
            if len(answers) < 2:
                return steps
            found = look.patches(answers[1], at, look.look_points(step_seconds), c.host_label)
        return look.patched(steps, found)

    def usage_steps(
        self,
        instances: Sequence[str],
        end: datetime,
        window_seconds: float,
        step_seconds: float,
        handovers: Mapping[str, Sequence[float]] | None = None,
    ) -> dict[parse.Key, list[UsageStep]]:
        """:meth:`steps_fetches` and :meth:`usage_steps_of`, one request after the other."""
        if not instances:
            return {}
        fetches = self.steps_fetches(instances, end, window_seconds, step_seconds, handovers)
        return self.usage_steps_of([fetch() for fetch in fetches], end, step_seconds)


@contextmanager
def _shape_errors() -> Iterator[None]:
    """Turn an answer of the wrong shape (a series a string...) into a SourceError: the
    whole answer is refused, as a part of it may be missing."""
    try:
        yield
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        detail = f"{type(exc).__name__}: {exc}"[:200]
        raise SourceError(f"malformed answer from Prometheus: {detail}") from exc
