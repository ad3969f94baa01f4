"""Usage per workspace: the per-user split one level finer, exported only when asked for."""

from collections import defaultdict
from datetime import datetime, timezone

import pytest
from prometheus_client import CollectorRegistry

from exporter.collectors import AdaCarbonCollector
from exporter.config import Config, ConfigError, IntensityConfig, load, with_demo
from exporter.embodied import EmbodiedModel
from exporter.exposition import encode
from exporter.model import UNATTRIBUTED, IntensitySlot, Usage
from exporter.refresh import Refresh
from tests.stubs import StubIntensity, StubOwnership, StubUsage, steady_steps, usage, ws

END = datetime(2026, 1, 31, 12, 0, tzinfo=timezone.utc)
T = END.timestamp()
A, B, C = "172.16.100.50", "172.16.100.51", "172.16.100.52"
FAMILIES = (
    "ada_carbon_workspace_cpu_seconds",
    "ada_carbon_workspace_energy_joules",
    "ada_carbon_workspace_emissions_grams",
)


class HalfHourly(StubIntensity):
    """Each half hour its own intensity, so that where a share falls changes its grams."""

    def slots(self, start, end):
        self.requests += 1
        t = start.timestamp() // 1800 * 1800
        out = []
        while t <= end.timestamp():
            out.append(IntensitySlot(t, t + 1800, 100.0 + (t // 1800) % 7 * 40.0, True))
            t += 1800
        self.seen = out
        return out


def handover_fleet():
    """Host A handed from alice (w1) to bob (w2) 20 minutes before the end; host B held by
    carol (w3) from half way only; host C held by dave through two workspaces back to back
    (w4, w5) and, before that, by nobody but a pool workspace (w6)."""
    u = StubUsage(
        [usage(A), usage(B, busy=1800.0, idle=5400.0), usage(C, busy=900.0, idle=9900.0)],
        {(f"{h}:9100", "IDAaaS", "Muon"): steady_steps(T) for h in (A, B)},
    )
    o = StubOwnership(
        [
            ws("w1", "alice", T - 86400, deleted=T - 1200, host=A),
            ws("w2", "bob", T - 1200, host=A),
            ws("w3", "carol", T - 1800, host=B),
            ws("w6", None, T - 86400, deleted=T - 2700, host=C, state="READY"),
            ws("w4", "dave", T - 2700, deleted=T - 900, host=C),
            ws("w5", "dave", T - 900, host=C),
        ]
    )
    return u, o


def snapshot(workspace_usage=True, intensity=None):
    config = Config(
        carbon_intensity=IntensityConfig(default_gco2_per_kwh=150.0),
        workspace_usage=workspace_usage,
    )
    engine = Refresh(config, *handover_fleet(), intensity or HalfHourly())
    try:
        return engine.snapshot(END)
    finally:
        engine.close()


def test_workspaces_of_each_user_add_up_to_the_users_usage_on_a_handover():
    snap = snapshot()
    by_user = defaultdict(lambda: [0.0] * len(Usage._fields))
    for key, u in snap.workspace_usage.items():
        group = (key.cloud_project_name, key.machine_name, key.facility, key.user)
        by_user[group] = [a + b for a, b in zip(by_user[group], u, strict=True)]
    held = {k: u for k, u in snap.usage.items() if k[3] != UNATTRIBUTED}
    assert by_user.keys() == held.keys()
    for group, u in held.items():
        assert by_user[group] == pytest.approx(list(u), rel=1e-12), group
    # Time nobody held is no workspace's: it stays the per-user families' unattributed.
    assert any(k[3] == UNATTRIBUTED for k in snap.usage)
    assert all(k.user != UNATTRIBUTED and k.workspace_id for k in snap.workspace_usage)


def test_each_workspace_gets_its_tenure_of_the_host():
    got = {(k.workspace_id, k.host, k.user): u for k, u in snapshot().workspace_usage.items()}
    assert set(got) == {
        ("w1", A, "alice"),
        ("w2", A, "bob"),
        ("w3", B, "carol"),
        ("w4", C, "dave"),
        ("w5", C, "dave"),
    }
    # Steady usage: 40 of the 60 minutes of A are alice's, the last 20 bob's.
    assert got["w1", A, "alice"].busy_seconds == pytest.approx(2400)
    assert got["w2", A, "bob"].idle_seconds == pytest.approx(2400)
    assert got["w3", B, "carol"].busy_seconds == pytest.approx(900)
    # dave's 45 minutes of C (the first 15 were a pool workspace's: nobody's), by duration
    # between his two workspaces, as C's window has no steps: 30 and 15 minutes.
    dave = 900.0 * 45 / 60
    assert got["w4", C, "dave"].busy_seconds == pytest.approx(dave * 30 / 45)
    assert got["w5", C, "dave"].busy_seconds == pytest.approx(dave * 15 / 45)


def _exposition(config):
    engine = Refresh(config, *handover_fleet(), HalfHourly())
    registry = CollectorRegistry()
    registry.register(AdaCarbonCollector(lambda: engine.snapshot(END)))
    try:
        return encode(registry, None)[0].decode()
    finally:
        engine.close()


def test_off_by_default_no_family_is_written_not_even_its_help():
    assert Config().workspace_usage is False
    text = _exposition(Config())
    assert "ada_carbon_workspace_" not in text.replace("ada_carbon_workspace_info", "")
    assert snapshot(workspace_usage=False).workspace_usage is None


def test_on_the_families_carry_the_workspace_and_the_usage_labels():
    text = _exposition(Config(workspace_usage=True))
    for name in FAMILIES:
        lines = [line for line in text.splitlines() if line.startswith(name + "{")]
        assert len(lines) == 5 * 2, name  # five workspaces, busy and idle
        assert f"# TYPE {name} gauge" in text
    line = next(
        line
        for line in text.splitlines()
        if line.startswith("ada_carbon_workspace_cpu_seconds{")
        and 'workspace_id="w1"' in line
        and 'mode="busy"' in line
    )
    assert line == (
        'ada_carbon_workspace_cpu_seconds{cloud_project_name="IDAaaS",facility="ISIS",'
        f'host="{A}",machine_name="Muon",mode="busy",user="alice",workspace_id="w1"}} 2400.0'
    )


def test_the_option_is_read_from_the_file_and_checked(tmp_path):
    path = tmp_path / "exporter.yaml"
    path.write_text("workspace_usage: true\n")
    assert load(path, env={}).workspace_usage is True
    path.write_text("workspace_usage: 'yes'\n")
    with pytest.raises(ConfigError, match="workspace_usage: expected true or false"):
        load(path, env={})


def test_the_demo_turns_it_on():
    assert with_demo(Config()).workspace_usage is True


def test_each_workspace_carries_the_embodied_grams_of_the_time_it_held_its_host():
    """dave held C through w4 for 30 minutes and w5 for 15: 2/3 and 1/3 of his grams."""
    model = EmbodiedModel(server_kgco2e=3504.0, cores=4, server_cores=16)  # 25 g an hour
    config = Config(workspace_usage=True, embodied={"Muon": model})
    engine = Refresh(config, *handover_fleet(), HalfHourly())
    try:
        snap = engine.snapshot(END)
    finally:
        engine.close()
    got = {k.workspace_id: u.embodied_grams for k, u in snap.workspace_usage.items()}
    assert got["w4"] == pytest.approx(25.0 * 30 / 60, rel=1e-9)
    assert got["w5"] == pytest.approx(25.0 * 15 / 60, rel=1e-9)
    by_user = defaultdict(float)
    for key, u in snap.workspace_usage.items():
        by_user[key.user] += u.embodied_grams
    for (_, _, _, user), u in snap.usage.items():
        if user != UNATTRIBUTED:
            assert by_user[user] == pytest.approx(u.embodied_grams, rel=1e-12), user
