"""The steps of hosts that changed hands are asked for as soon as MongoDB says which they are."""

import threading
import time
from datetime import datetime, timezone

import pytest

from exporter import engine as engine_module
from exporter.config import Config, IntensityConfig
from exporter.engine import Engine
from exporter.model import SourceError
from tests.stubs import StubIntensity, StubOwnership, StubUsage, steady_steps, usage, ws

END = datetime(2026, 1, 31, 12, 0, tzinfo=timezone.utc)
T = END.timestamp()
A, B, C = "172.16.100.50", "172.16.100.51", "172.16.100.52"


def key(host):
    return (f"{host}:9100", "IDAaaS", "Muon")


def handed_over(host, at):
    return [
        ws(f"{host}-1", "alice", T - 86400, deleted=at, host=host),
        ws(f"{host}-2", "bob", at, host=host),
    ]


def engine(u, o):
    cfg = Config(carbon_intensity=IntensityConfig(default_gco2_per_kwh=150.0))
    return Engine(cfg, u, o, StubIntensity())


def shares(snap):
    return {k: (round(v.busy_seconds, 6), round(v.idle_seconds, 6)) for k, v in snap.usage.items()}


def test_the_second_refresh_asks_before_prometheus_has_answered_and_gets_the_same_result():
    # A's load doubles when bob takes it over: the split must follow the steps.
    steps = steady_steps(T, busy=1800.0)[:40] + steady_steps(T, busy=5400.0)[40:]
    u = StubUsage([usage(A, busy=sum(s.busy_seconds for s in steps)), usage(C)], {key(A): steps})
    o = StubOwnership([*handed_over(A, T - 1200), ws("c", "carol", T - 86400, host=C)])
    e = engine(u, o)
    try:
        cold = e.snapshot(END)
        assert u.steps_asked == [[f"{A}:9100"]]  # after the totals: no instances known yet
        u.steps_called.clear()
        u.totals_after_steps = threading.Event()  # the totals now wait for the steps call
        warm = e.snapshot(END)
    finally:
        e.close()
    assert u.answered_after_steps == [True]
    assert u.steps_asked == [[f"{A}:9100"]] * 2
    assert warm.sources["prometheus"].up and warm.sources["prometheus"].requests == 2
    assert shares(warm) == shares(cold)
    bob = next(v for k, v in warm.usage.items() if k[3] == "bob")
    assert bob.busy_seconds == pytest.approx(5400.0 / 3)


class UsersAfterSteps(StubOwnership):
    """MongoDB whose users query answers only once the steps were asked for (or after 5 s)."""

    def __init__(self, workspaces, usage_source):
        super().__init__(workspaces)
        self.usage_source = usage_source
        self.answered_after_steps = []
        self.wait_seconds = 5.0

    def users(self, names):
        self.answered_after_steps.append(self.usage_source.steps_called.wait(self.wait_seconds))
        return super().users(names)


def test_the_steps_are_asked_for_once_the_workspaces_are_in_not_after_the_users():
    u = StubUsage([usage(A)], {key(A): steady_steps(T)})
    o = UsersAfterSteps(handed_over(A, T - 1200), u)
    e = engine(u, o)
    try:
        o.wait_seconds = 0.0
        e.snapshot(END)  # no instances known yet: the steps come after the totals
        o.wait_seconds = 5.0
        u.steps_called.clear()
        warm = e.snapshot(END)
    finally:
        e.close()
    assert o.answered_after_steps == [False, True]
    assert u.steps_asked == [[f"{A}:9100"]] * 2
    assert warm.sources["mongodb"].up and warm.sources["prometheus"].up


def test_a_host_new_since_the_last_refresh_is_asked_for_after_the_totals():
    u = StubUsage([usage(A)], {key(A): steady_steps(T), key(B): steady_steps(T)})
    o = StubOwnership(handed_over(A, T - 1200))
    e = engine(u, o)
    try:
        e.snapshot(END)
        u.usage = [usage(A), usage(B)]  # B's node_exporter appeared since
        o.workspaces_ = [*handed_over(A, T - 1200), *handed_over(B, T - 600)]
        snap = e.snapshot(END)
    finally:
        e.close()
    # A early (its instance is known), B once the totals named its instance.
    assert u.steps_asked == [[f"{A}:9100"], [f"{A}:9100"], [f"{B}:9100"]]
    assert snap.split_hosts == 2
    assert snap.sources["prometheus"].requests == 3
    bob = next(v for k, v in snap.usage.items() if k[3] == "bob")
    assert bob.busy_seconds == pytest.approx(3600.0 * (1200 + 600) / 3600)


def test_a_failed_early_steps_call_takes_prometheus_down_and_withholds_usage():
    u = StubUsage([usage(A)], {key(A): steady_steps(T)})
    o = StubOwnership(handed_over(A, T - 1200))
    e = engine(u, o)
    try:
        assert e.snapshot(END).usage is not None
        u.fail_steps = True
        snap = e.snapshot(END)
    finally:
        e.close()
    assert len(u.steps_asked) == 2
    assert not snap.sources["prometheus"].up
    assert "prometheus is down" in snap.sources["prometheus"].error
    assert snap.usage is None  # a split without its steps would be a guess


def when_attributed(monkeypatch, host):
    """An event set each time the engine has attributed ``host``'s usage."""
    done = threading.Event()
    real = engine_module.attribute

    def spy(hosts, *args, **kwargs):
        shares = list(real(hosts, *args, **kwargs))
        if any(h.host == host for h in hosts):
            done.set()
        return shares

    monkeypatch.setattr(engine_module, "attribute", spy)
    return done


def test_hosts_with_one_owner_are_attributed_while_the_users_are_fetched(monkeypatch):
    attributed = when_attributed(monkeypatch, C)

    class UsersAfterAttribution(StubOwnership):
        def users(self, names):
            seen.append(attributed.wait(5.0))
            return super().users(names)

    seen = []
    u = StubUsage([usage(A), usage(C)], {key(A): steady_steps(T)})
    o = UsersAfterAttribution([*handed_over(A, T - 1200), ws("c", "carol", T - 86400, host=C)])
    e = engine(u, o)
    try:
        snap = e.snapshot(END)
    finally:
        e.close()
    assert seen == [True]
    assert {k[3] for k in snap.usage} == {"alice", "bob", "carol"}
    assert snap.sources["mongodb"].up and snap.split_hosts == 1


def test_users_failing_after_the_steps_were_asked_for_leaves_no_call_behind():
    """MongoDB's workspaces answer, its users fail: usage is withheld, Prometheus stays up,
    and the early steps call ends with that refresh, not in the next one's way."""

    class SlowSteps(StubUsage):
        def usage_steps(self, instances, end, window_seconds, step_seconds):
            time.sleep(0.3)
            return super().usage_steps(instances, end, window_seconds, step_seconds)

    class FlakyUsers(StubOwnership):
        users_fail = False

        def users(self, names):
            if self.users_fail:
                self.requests += 1
                raise SourceError("users: connection reset")
            return super().users(names)

    u = SlowSteps([usage(A), usage(C)], {key(A): steady_steps(T)})
    o = FlakyUsers([*handed_over(A, T - 1200), ws("c", "carol", T - 86400, host=C)])
    e = engine(u, o)
    try:
        e.snapshot(END)  # learns A's instance
        o.users_fail = True
        failed = e.snapshot(END)
        asked_while_failing = len(u.steps_asked)
        o.users_fail = False
        healed = e.snapshot(END)
    finally:
        e.close()
    assert not failed.sources["mongodb"].up and failed.usage is None
    assert failed.sources["prometheus"].up
    assert asked_while_failing == 2  # the cold refresh's late call and this one's early one
    assert healed.sources["prometheus"].up and healed.sources["mongodb"].up
    assert {k[3] for k in healed.usage} == {"alice", "bob", "carol"}


def test_hosts_that_changed_hands_are_attributed_before_the_users_answer(monkeypatch):
    """Only the users' answer is left to wait for: the split and the workspace info
    are done meanwhile, and a users failure still withholds them."""
    split_done = when_attributed(monkeypatch, A)

    class UsersAfterTheSplit(StubOwnership):
        users_fail = False

        def users(self, names):
            seen.append(split_done.wait(5.0))
            split_done.clear()
            if self.users_fail:
                raise SourceError("users: connection reset")
            return super().users(names)

    seen = []
    u = StubUsage([usage(A), usage(C)], {key(A): steady_steps(T)})
    o = UsersAfterTheSplit([*handed_over(A, T - 1200), ws("c", "carol", T - 86400, host=C)])
    e = engine(u, o)
    try:
        cold = e.snapshot(END)  # the steps are asked for after the totals
        warm = e.snapshot(END)  # and here as soon as the workspaces are in
        o.users_fail = True
        failed = e.snapshot(END)
    finally:
        e.close()
    assert seen == [True, True, True]
    assert shares(cold) == shares(warm) and {k[3] for k in warm.usage} == {"alice", "bob", "carol"}
    assert warm.split_hosts == 1 and len(warm.workspace_info) == 2
    assert not failed.sources["mongodb"].up and failed.sources["prometheus"].up
    assert failed.usage is None and failed.workspaces is None and failed.workspace_info == ()
    assert failed.split_hosts == 0 and failed.unmatched_hosts == {}


def test_the_users_are_asked_for_while_the_timelines_are_built(monkeypatch):
    users_asked = threading.Event()
    real = engine_module.build_timelines
    seen = []

    def slow_build(*args, **kwargs):
        seen.append(users_asked.wait(5.0))
        return real(*args, **kwargs)

    monkeypatch.setattr(engine_module, "build_timelines", slow_build)

    class Users(StubOwnership):
        def users(self, names):
            users_asked.set()
            return super().users(names)

    u = StubUsage([usage(A)], {key(A): steady_steps(T)})
    e = engine(u, Users(handed_over(A, T - 1200)))
    try:
        snap = e.snapshot(END)
    finally:
        e.close()
    assert seen == [True]
    assert snap.sources["mongodb"].up and snap.sources["mongodb"].requests == 2
    assert {k[3] for k in snap.usage} == {"alice", "bob"}
