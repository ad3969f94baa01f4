"""The usage source over Prometheus: CPU-seconds per host in a bounded number of requests.

The window totals are two queries (busy, idle) that the refresh runs side by side;
the steps of the hosts that changed hands, and the look at their handovers, are one
more request each, or a few when they name too many hosts for one (:mod:`.batches`).
See :mod:`.queries` for the PromQL and :mod:`.parse` for the rules.
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
from exporter.sources.prometheus import batches, parse, queries
from exporter.sources.prometheus import handovers as look
from exporter.sources.prometheus.client import PrometheusClient

log = logging.getLogger("exporter.sources.prometheus")  # the name it has always logged under
STEPS, LOOK = "steps", "look"  # the two parts of the answers to steps_fetches


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
        self._left_logged = False

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
                self._check_spacing(self.rule_evaluations(answers))
        return parse.usage_rows(totals, flags)[0]

    def rule_evaluations(
        self, answers: Sequence[Any], window_seconds: float = 0.0
    ) -> tuple[int, int] | None:
        """The recording rules' evaluations in the window, seen (by the heartbeat) and
        expected (every ``recording_rules.interval``); None on the raw counters. (The
        window is in the answers.)"""
        if self._rules is None or not answers:
            return None
        with _shape_errors():
            return parse.rule_evaluations(answers[0], self._rules.interval_seconds)

    def _check_spacing(self, evaluations: tuple[int, int] | None) -> None:
        """Refuse a window whose rule evaluations are not one every interval: each is read
        as standing for one interval, so rules run every 5 minutes would read 80 % low.
        One missing is let pass (a restart's blip, an engine whose ``timestamp()`` gives
        the query's time, not the sample's): a window's edges are as uncertain."""
        if evaluations is None or self._rules is None:
            return
        seen, expected = evaluations
        if expected - 1 <= seen <= expected:
            return
        raise SourceError(
            f"the recording rules were evaluated {seen} times in the window where one every "
            f"recording_rules.interval ({self._rules.interval_seconds:g}s) makes {expected}: "
            "they run at another interval (set it to theirs), missed evaluations, or were "
            "loaded less than a window ago; the window is refused rather than read "
            f"{seen}/{expected} of its usage"
        )

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
        """The steps of just these instances, and on the raw counters a look at the
        ``handovers`` (instance -> unix times) at the scrape interval (:mod:`.handovers`),
        each in at most MAX_REQUESTS requests of at most QUERY_BYTES (:mod:`.batches`):
        the refresh sends them side by side."""
        c, at = self._config, round(end.timestamp(), 3)  # Prometheus evaluates at whole ms
        if not instances:
            return []
        if self._rules is not None:
            runs, left = batches.packed(
                instances, lambda hosts: queries.rule_steps(c, hosts, window_seconds)
            )
            self._log_left(len(left), len(instances))
            return [_tagged(STEPS, self.client.query, q, at, "matrix") for _, q in runs]
        busy, idle = self._busy, self._idle
        form = queries.raw_steps(c, busy, idle, instances[:1], at, window_seconds, step_seconds)
        runs, left = batches.packed(
            instances,
            lambda hosts: queries.raw_steps(c, busy, idle, hosts, at, window_seconds, step_seconds)[
                "query"
            ],
        )
        self._log_left(len(left), len(instances))
        path = "/api/v1/query_range"
        fetches = [
            _tagged(STEPS, self.client.post, path, {**form, "query": q}, "matrix") for _, q in runs
        ]
        stepped = {i for run, _ in runs for i in run}
        return fetches + self._look_fetches(stepped, handovers or {}, at, step_seconds)

    def _look_fetches(
        self, stepped: set[str], handovers: Mapping[str, Sequence[float]], at: float, step: float
    ) -> list[Callable[[], Any]]:
        """The look's requests, at the hosts the steps name (a patch needs steps to lie on),
        one pair per (centre, host): two handovers of a host in one GATHER_SECONDS share a
        centre, and named in two requests their series would be added twice. None where
        the fleet's scrape interval is not below the step: the look would see nothing finer."""
        c, busy, idle = self._config, self._busy, self._idle
        if not look.wanted(step, c.scrape_interval_seconds):
            return []
        pairs = sorted(
            {(look.look_centre_ms(t) / 1000, i) for i in stepped for t in handovers.get(i, ())}
        )
        if not pairs:
            return []
        form = look.handover_look(c, busy, idle, _by_host(pairs[:1]), at, step)
        looks, _ = batches.packed(
            pairs, lambda run: look.handover_look(c, busy, idle, _by_host(run), at, step)["query"]
        )
        path = "/api/v1/query_range"
        return [
            _tagged(LOOK, self.client.post, path, {**form, "query": q}, "matrix") for _, q in looks
        ]

    def _log_left(self, left: int, of: int) -> None:
        """Log when some hosts that changed hands do not fit the steps' requests, and when
        all fit again (not at every scrape)."""
        if (left > 0) == self._left_logged:
            return
        self._left_logged = left > 0
        if left:
            log.warning(
                "%d of the %d hosts that changed hands in the window do not fit in %d "
                "requests of %d bytes: their usage is split by how long each owner held "
                "them (ada_carbon_split_hosts_without_steps)",
                left,
                of,
                batches.MAX_REQUESTS,
                batches.QUERY_BYTES,
            )
        else:
            log.info("The hosts that changed hands fit in the steps' requests again")

    def usage_steps_of(
        self, answers: Sequence[Any], end: datetime, step_seconds: float
    ) -> dict[parse.Key, list[UsageStep]]:
        """The steps per host and group from the answers of :meth:`steps_fetches` (those
        of a failed request left out: its hosts get no steps, or no look)."""
        c = self._config
        at = round(end.timestamp(), 3)
        found: dict[str, list[Any]] = {STEPS: [], LOOK: []}
        for kind, result in answers:
            found[kind] += result  # the runs name disjoint hosts: as one answer
        with _shape_errors():
            if self._rules is not None:
                return parse.rule_steps(found[STEPS], self._rules, at, c.host_label)
            steps = parse.tiles(
                found[STEPS],
                "class",
                parse.CLASSES,
                step_seconds,
                2 * step_seconds,
                at,
                c.host_label,
            )
            scrape = c.scrape_interval_seconds
            points = look.look_points(step_seconds, scrape)
            patches = look.patches(found[LOOK], at, points, scrape, c.host_label)
        return look.patched(steps, patches)

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


def _tagged(kind: str, call: Callable[..., list[Any]], *args: Any) -> Callable[[], Any]:
    """A fetch whose answer says which part it is: ``(kind, result)``."""
    return lambda: (kind, call(*args))


def _by_host(pairs: Sequence[tuple[float, str]]) -> dict[str, list[float]]:
    """(time, instance) pairs as instance -> times."""
    out: dict[str, list[float]] = {}
    for t, instance in pairs:
        out.setdefault(instance, []).append(t)
    return out


@contextmanager
def _shape_errors() -> Iterator[None]:
    """Turn an answer of the wrong shape (a series a string...) into a SourceError: the
    whole answer is refused, as a part of it may be missing."""
    try:
        yield
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        detail = f"{type(exc).__name__}: {exc}"[:200]
        raise SourceError(f"malformed answer from Prometheus: {detail}") from exc
