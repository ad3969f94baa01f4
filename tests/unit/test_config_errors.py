"""Every invalid configuration is refused at start, by key, and never with a traceback.

The loader is checked case by case; the command line, for a sample of them, both
with ``--config.check`` and when starting to serve.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from exporter.config import Config, ConfigError, load

ROOT = Path(__file__).resolve().parents[2]

# (YAML, the key the message must name)
BAD_YAML = {
    "unknown key": ("prometheus:\n  tiemout: 3s\n", "prometheus.tiemout: unknown key"),
    "section of the wrong type": ("prometheus: 5\n", "prometheus: expected a mapping"),
    "string for a number": ("power:\n  pue: high\n", "power.pue: expected a number"),
    "number for a string": ("mongodb:\n  database: 5\n", "mongodb.database:"),
    "bool for a duration": ("window: true\n", "window:"),
    "string for a bool": ("workspace_info: 'yes'\n", "workspace_info: expected true or false"),
    "string for gzip": ("prometheus:\n  gzip: 'no'\n", "prometheus.gzip: expected true or"),
    "no idle modes": ("modes:\n  idle: []\n", "modes.idle: expected at least one"),
    "string for a list": ("modes:\n  busy: user\n", "modes.busy: expected a list"),
    "list for a mapping": ("facilities: [ISIS]\n", "facilities: expected a mapping"),
    "number for a machine": ("power:\n  machines:\n    Muon: 5\n", "power.machines.Muon:"),
    "negative watts": ("power:\n  busy_watts_per_core: -1\n", "power.busy_watts_per_core"),
    "NaN window": ("window: .nan\n", "window: expected a finite duration"),
    "infinite budget": ("scrape_budget: .inf\n", "scrape_budget: expected a finite duration"),
    "not a URL": ("prometheus:\n  url: not a url\n", "prometheus.url: expected an absolute"),
    "URL with a space": ("prometheus:\n  url: http://exa mple\n", "prometheus.url:"),
    "URL with a bad port": ("prometheus:\n  url: 'http://h:99999'\n", "prometheus.url:"),
    "MongoDB URI for Prometheus": ("prometheus:\n  url: mongodb://h\n", "prometheus.url:"),
    "HTTP URL for MongoDB": ("mongodb:\n  uri: http://h\n", "mongodb.uri: expected an absolute"),
    "MongoDB URI pymongo refuses": (
        "mongodb:\n  uri: 'mongodb://h/?tls=maybe'\n",
        "mongodb.uri: not a valid MongoDB URI",
    ),
    "database name with a slash": ("mongodb:\n  database: a/b\n", "mongodb.database:"),
    "missing CA bundle": ("prometheus:\n  ca_file: /nonexistent/ca.pem\n", "prometheus.ca_file"),
    "missing secret file": ("mongodb:\n  password_file: /nonexistent\n", "mongodb.password_file"),
    "timeout above the budget": ("mongodb:\n  timeout: 9s\n", "mongodb.timeout: 9s must be below"),
    "bad label name": ("prometheus:\n  host_label: a-b\n", "prometheus.host_label:"),
    "bad region": ("carbon_intensity:\n  region: 99\n", "carbon_intensity.region:"),
}


@pytest.mark.parametrize(("text", "key"), BAD_YAML.values(), ids=BAD_YAML.keys())
def test_each_invalid_value_is_refused_naming_its_key(tmp_path, text, key):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load(path, env={})
    assert key in str(err.value)


def test_a_ca_bundle_that_is_not_pem_is_refused(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate\n")
    path = tmp_path / "c.yaml"
    path.write_text(f"prometheus:\n  ca_file: {ca}\n")
    with pytest.raises(ConfigError, match=r"prometheus\.ca_file"):
        load(path, env={})


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"PROMETHEUS_URL": "ftp://prometheus:9090"}, "PROMETHEUS_URL (environment variable)"),
        ({"MONGO_URI": "http://db"}, "MONGO_URI (environment variable)"),
        ({"MONGO_DATABASE": "a.b"}, "MONGO_DATABASE (environment variable)"),
    ],
)
def test_environment_overrides_are_checked_like_their_keys(env, key):
    with pytest.raises(ConfigError, match=key.replace("(", r"\(").replace(")", r"\)")):
        load(None, env=env)


def test_an_environment_override_and_the_key_it_overrides_can_both_be_set(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("prometheus:\n  url: http://yaml:9090\nmongodb:\n  uri: mongodb://yaml\n")
    env = {"PROMETHEUS_URL": "http://env:9090", "MONGO_URI": "mongodb://env"}
    config = load(path, env=env)
    assert (config.prometheus.url, config.mongodb.uri) == ("http://env:9090", "mongodb://env")


def test_unreadable_files_are_refused_naming_the_file(tmp_path):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00window: 1h\n")
    with pytest.raises(ConfigError, match=r"config\.file: .* is not UTF-8 text"):
        load(binary, env={})
    with pytest.raises(ConfigError, match=r"config\.file: cannot read .*: Is a directory"):
        load(tmp_path, env={})
    assert load(None, env={}) == Config()


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exporter", "--web.listen-address=127.0.0.1:0", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("text", "key"),
    [
        BAD_YAML["string for a number"],
        BAD_YAML["HTTP URL for MongoDB"],
        BAD_YAML["missing CA bundle"],
        BAD_YAML["MongoDB URI pymongo refuses"],
    ],
)
def test_the_command_line_exits_2_naming_the_key_with_or_without_config_check(tmp_path, text, key):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    for args in (["--config.check"], []):
        result = run(f"--config.file={path}", *args)
        assert result.returncode == 2, result.stderr
        assert key in result.stderr
        assert "Traceback" not in result.stderr


def test_a_binary_config_file_exits_2_without_a_traceback(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"\x00\xff\xfe")
    result = run(f"--config.file={path}", "--config.check")
    assert result.returncode == 2
    assert "config.file" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("window: 1h\nwindow: 2h\n", "'window'"),
        ("prometheus:\n  url: http://a:9090\n  url: http://b:9090\n", "'url'"),
        (
            "prometheus: {timeout: 5s}\nmongodb: {}\nprometheus: {url: 'http://b:9090'}\n",
            "'prometheus'",
        ),
    ],
)
def test_a_key_given_twice_is_refused_not_silently_overridden(tmp_path, text, key):
    path = tmp_path / "exporter.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load(path, env={})
    assert f"key {key} given twice" in str(error.value)


def test_a_web_config_key_given_twice_is_refused(tmp_path):
    from exporter.web.config import WebConfigError, load_web_config

    path = tmp_path / "web.yaml"
    path.write_text("basic_auth_users: {}\nbasic_auth_users: {}\n")
    with pytest.raises(WebConfigError) as error:
        load_web_config(path)
    assert "key 'basic_auth_users' given twice" in str(error.value)


def test_yaml_anchors_and_merge_keys_still_load(tmp_path):
    path = tmp_path / "exporter.yaml"
    path.write_text(
        "mongodb: &timeouts {timeout: 4s}\n"
        "prometheus: {<<: *timeouts, url: 'http://prometheus:9090'}\n"
        "carbon_intensity:\n  <<: *timeouts\n  source: fixed\n"
    )
    config = load(path, env={})
    assert config.prometheus.timeout_seconds == config.mongodb.timeout_seconds == 4
    assert config.carbon_intensity.timeout_seconds == 4


# --- files that are not configuration, or are built to exhaust the loader -----------------

SHADOW = "root:$6$saltsalt$HASHSECRET0123:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"
SHADOW_SPACED = "root: $6$saltsalt$HASHSECRET0123:19000:0:99999:7:::\n"  # not YAML at all
SHADOW_TWICE = "root:$6$saltsalt$HASHSECRET0123:19000:0:99999:7:::\n" * 2  # a key twice
ALIAS = "*HASHSECRET0123_99999_daemon\n"  # an alias never defined
BOMB = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{k}: &{k} [{','.join([f'*{p}'] * 9)}]\n"
        for p, k in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "window: *i\n"
)


@pytest.mark.parametrize(
    "text", [SHADOW, SHADOW_SPACED, SHADOW_TWICE, ALIAS], ids=["keys", "not YAML", "twice", "alias"]
)
@pytest.mark.parametrize("flag", ["--config.file", "--web.config.file"])
def test_a_file_that_is_not_configuration_is_refused_without_echoing_it(tmp_path, text, flag):
    path = tmp_path / "shadow"
    path.write_text(text)
    result = run("--demo", f"{flag}={path}", "--config.check")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert str(path) in result.stderr  # the file is named ...
    for secret in ("HASHSECRET", "$6$", "99999", "daemon"):  # ... never its content
        assert secret not in result.stderr + result.stdout, secret


def test_an_unknown_key_is_named_only_if_it_looks_like_a_setting_and_then_cut(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(f"prometheus:\n  tiemout: 3s\n  {'x' * 100}: 1\n  'a b:c$d': 2\n")
    with pytest.raises(ConfigError) as err:
        load(path, env={})
    assert err.value.problems == [
        "prometheus.tiemout: unknown key",
        f"prometheus.{'x' * 39}…: unknown key",
        "prometheus: 1 unknown keys that are not setting names, not shown: "
        "is this a configuration file?",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (BOMB, "aliases expand it past 1048576 bytes"),
        ("a: &a [*a]\nwindow: *a\n", "aliases expand it past"),  # recursive
        ("window: " + "[" * 20000 + "]" * 20000 + "\n", "nested too deeply"),
        ("window: 1h\n" + "#" * (1 << 20), "larger than 1048576 bytes"),
    ],
    ids=["alias bomb", "recursive alias", "deep nesting", "over 1 MiB"],
)
@pytest.mark.parametrize("which", ["config", "web config"])
def test_files_built_to_exhaust_the_loader_are_refused_at_once(tmp_path, content, message, which):
    from exporter.web.config import load_web_config

    path = tmp_path / "c.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError) as err:
        load(path, env={}) if which == "config" else load_web_config(path)
    assert message in str(err.value)
    assert len(str(err.value)) < 300  # nothing expanded is printed


def test_a_configuration_file_without_end_is_read_only_up_to_the_cap():
    assert len(BOMB) <= 511
    with pytest.raises(ConfigError, match=r"config\.file: /dev/zero is larger than 1048576 bytes"):
        load("/dev/zero", env={})
    result = run("--web.config.file=/dev/zero", "--config.check")
    assert result.returncode == 2
    assert "web.config.file: /dev/zero is larger than" in result.stderr


# --- durations: each in a sane range ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("window: 999999999d", "window: must be from 1m to 31d, got '999999999d'"),
        ("window: 36500d", "window: must be from 1m to 31d, got '36500d'"),
        ("window: 30s", "window: must be from 1m to 31d, got '30s'"),
        ("window: " + "9" * 400 + "d", "window: expected seconds or a duration like 1h or 90s"),
        ("window: 1" + "0" * 400, "window: expected a finite duration"),
        ("scrape_budget: 1h", "scrape_budget: must be from 1s to 10m"),
        ("min_refresh_interval: 2h", "min_refresh_interval: must be from 0s to 1h"),
        ("prometheus: {timeout: 0.01}", "prometheus.timeout: must be from 0.1s to 5m"),
        ("mongodb: {timeout: 1d}", "mongodb.timeout: must be from 0.1s to 5m"),
        ("carbon_intensity: {timeout: 0}", "carbon_intensity.timeout: must be from 0.1s to 5m"),
        ("prometheus: {split_step: 2h}", "prometheus.split_step: must be from 1s to 1h"),
        ("prometheus: {scrape_interval: 0s}", "prometheus.scrape_interval: must be from 1s to 1h"),
        ("prometheus: {recording_rules: {range: 1d}}", "prometheus.recording_rules.range: must"),
        ("power: {pue: 1" + "0" * 400 + "}", "power.pue: expected a finite number"),
        (
            "window: 31d",
            "window: 31d is more than 11000 steps of prometheus.split_step (1m), "
            "the most Prometheus answers for one series",
        ),
    ],
)
def test_every_duration_has_a_sane_range(tmp_path, text, problem):
    path = tmp_path / "c.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as err:
        load(path, env={})
    assert any(p.startswith(problem) for p in err.value.problems), err.value.problems


def test_a_scrape_interval_longer_than_the_split_step_is_refused_naming_both(tmp_path):
    """The steps are rates over two steps: scraped less often than once a step, some
    steps would have no rate. The recording rules take no steps of their own."""
    path = tmp_path / "c.yaml"
    path.write_text("prometheus: {scrape_interval: 2m}\n")
    with pytest.raises(ConfigError) as err:
        load(path, env={})
    assert err.value.problems[0].startswith(
        "prometheus.scrape_interval: 2m is longer than prometheus.split_step (1m)"
    )
    path.write_text("prometheus: {scrape_interval: 2m, split_step: 2m}\n")
    assert load(path, env={}).prometheus.scrape_interval_seconds == 120
    path.write_text("prometheus: {scrape_interval: 2m, source: recording_rules}\n")
    assert load(path, env={}).prometheus.source == "recording_rules"


def test_the_longest_window_loads_with_a_step_prometheus_can_answer(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("window: 31d\nprometheus: {split_step: 5m}\n")
    assert load(path, env={}).window_seconds == 31 * 86400


def test_a_hostile_duration_exits_2_without_a_traceback(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("window: 1" + "0" * 400 + "\n")
    result = run(f"--config.file={path}", "--config.check")
    assert result.returncode == 2 and "window:" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_split_step_below_15s_that_loaded_before_still_loads(tmp_path):
    """Review: `split_step: 10s` (a fleet scraped every 10 s or faster) loaded before
    prometheus.scrape_interval existed; the key's default (15s) must not refuse it."""
    path = tmp_path / "c.yaml"
    path.write_text("prometheus: {split_step: 10s}\n")
    assert load(path, env={}).prometheus.step_seconds == 10
