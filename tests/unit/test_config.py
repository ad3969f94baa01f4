"""Configuration: defaults, every key of exporter.yaml, environment overrides, errors by key."""

from pathlib import Path

import pytest

from exporter.config import Config, ConfigError, load, mask_url, parse_duration

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_shipped_exporter_yaml_equals_the_built_in_defaults():
    assert load(ROOT / "exporter.yaml", env={}) == Config()


def test_defaults_match_the_old_service():
    c = Config()
    assert (c.power.busy_watts_per_core, c.power.idle_watts_per_core, c.power.pue) == (12, 1, 1)
    assert c.window_seconds == 3600
    assert c.modes.idle == ("idle", "iowait")
    assert "steal" not in c.modes.busy + c.modes.idle
    assert c.facilities["IDAaaS"] == "ISIS"


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("1h30m", 5400), ("1d", 86400), (45, 45)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_every_problem_is_reported_with_its_key(tmp_path):
    path = write(
        tmp_path,
        """
window: soon
colour: blue
power:
  busy_watts_per_core: -3
  pue: 0.5
  machines:
    Muon: {idle_watts_per_core: "lots"}
prometheus:
  url: not a url
  host_label: "bad-label"
  timeout: 9s
carbon_intensity:
  source: magic
modes:
  busy: [user, idle]
""",
    )
    with pytest.raises(ConfigError) as err:
        load(path, env={})
    text = str(err.value)
    for key in [
        "window:",
        "colour: unknown key",
        "power.busy_watts_per_core: must be >= 0",
        "power.pue:",
        "power.machines.Muon.idle_watts_per_core:",
        "prometheus.url:",
        "prometheus.host_label:",
        "carbon_intensity.source:",
        "modes:",
        "prometheus.timeout: 9s must be below scrape_budget",
    ]:
        assert key in text, key
    assert len(err.value.problems) >= 10


def test_unreadable_and_invalid_files_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"config\.file: cannot read"):
        load(tmp_path / "missing.yaml", env={})
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(write(tmp_path, "a: [1, 2"), env={})
    with pytest.raises(ConfigError, match="expected a mapping"):
        load(write(tmp_path, "- 1\n- 2\n"), env={})


def test_old_service_environment_variables_override(tmp_path):
    env = {
        "PROMETHEUS_URL": "http://thanos:10902",
        "MONGO_URI": "mongodb://db:27017",
        "MONGO_DATABASE": "ada_test",
        "USE_FAKE_MONGODB": "true",
        "USE_FAKE_CARBON_INTENSITY": "1",
        "USE_FAKE_PROMETHEUS": "false",
    }
    c = load(None, env=env)
    assert c.prometheus.url == "http://thanos:10902"
    assert (c.mongodb.uri, c.mongodb.database) == ("mongodb://db:27017", "ada_test")
    assert c.demo_sources == {"mongodb", "carbon_intensity"}


def test_secrets_come_from_environment_or_files_and_stay_out_of_repr(tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cr3t-token\n")
    path = write(
        tmp_path,
        f"prometheus:\n  bearer_token_file: {token}\n"
        f"mongodb:\n  username: u\n  password_file: {token}\n",
    )
    c = load(path, env={})
    assert c.prometheus.bearer_token == "s3cr3t-token"
    assert c.mongodb.password == "s3cr3t-token"
    assert load(path, env={"MONGO_PASSWORD": "from-env"}).mongodb.password == "from-env"
    assert "s3cr3t" not in repr(c)


def test_missing_secret_file_is_an_error_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"mongodb\.password_file"):
        load(write(tmp_path, "mongodb:\n  password_file: /nonexistent/pw\n"), env={})


def test_per_machine_power_overrides_inherit_the_defaults(tmp_path):
    c = load(
        write(tmp_path, "power:\n  pue: 1.2\n  machines:\n    Muon: {busy_watts_per_core: 20}\n"),
        env={},
    )
    assert c.power_for("Muon").busy_watts_per_core == 20
    assert c.power_for("Muon").idle_watts_per_core == 1
    assert c.power_for("Muon").pue == 1.2
    assert c.power_for("SANS") == c.power


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("mongodb://user:pa55@db:27017/ada", "mongodb://user:***@db:27017/ada"),
        ("mongodb://user:pa/55@db:27017/ada", "mongodb://user:***@db:27017/ada"),
        (
            "mongodb+srv://u:p@s:s#w?d%@c.example.org/a?x=1",
            "mongodb+srv://u:***@c.example.org/a?x=1",
        ),
        ("http://us%40er:p/@:#?%25w@prom:9090/p?q=1#f", "http://us%40er:***@prom:9090/p?q=1#f"),
        ("https://user:SECRET@api.example.org/x", "https://user:***@api.example.org/x"),
        ("user:pa/55@db:27017", "user:***@db:27017"),  # no scheme: still masked
        ("http://prom:9090", "http://prom:9090"),
        ("mongodb://user@db/ada", "mongodb://user@db/ada"),  # x.509: a name, no password
    ],
)
def test_mask_url_hides_passwords_with_reserved_characters_whatever_the_scheme(url, masked):
    assert mask_url(url) == masked


@pytest.mark.parametrize(
    "env",
    [
        {"PROMETHEUS_URL": "http://user:se/cret@prom:9090 x"},
        {"MONGO_URI": "mongodb://admin:se/cret@db:27017/"},
        {"MONGO_URI": "mongodb://admin:se@cret@db/"},
    ],
)
def test_config_errors_never_print_a_url_password(env):
    with pytest.raises(ConfigError) as err:
        load(None, env=env)
    assert "cret" not in str(err.value) and "***" in str(err.value)


def test_the_intensity_url_is_masked_where_the_sources_are_described(tmp_path):
    from exporter.sources.build import describe_sources

    path = write(tmp_path, "carbon_intensity:\n  url: http://user:SECRET@intensity.example\n")
    text = describe_sources(load(path, env={}))
    assert "SECRET" not in text and "http://user:***@intensity.example" in text


def test_the_old_services_bare_addresses_are_read_with_a_scheme_saying_so_once(caplog):
    env = {"PROMETHEUS_URL": "localhost:9090", "MONGO_URI": "localhost:27017"}
    with caplog.at_level("INFO", logger="exporter.config"):
        c = load(None, env=env)
    assert (c.prometheus.url, c.mongodb.uri) == (
        "http://localhost:9090",
        "mongodb://localhost:27017",
    )
    assert [r.getMessage() for r in caplog.records] == [
        "the earlier service's forms accepted: localhost:9090 read as http://localhost:9090; "
        "localhost:27017 read as mongodb://localhost:27017"
    ]


@pytest.mark.parametrize("suffix", ["/intensity", "/intensity/"])
def test_the_old_services_intensity_url_ending_in_intensity_is_read_as_the_base(tmp_path, suffix):
    path = write(
        tmp_path, f"carbon_intensity:\n  url: https://api.carbonintensity.org.uk{suffix}\n"
    )
    assert load(path, env={}).carbon_intensity.url == "https://api.carbonintensity.org.uk"


def test_recording_rules_switch_and_names(tmp_path):
    c = load(
        write(
            tmp_path,
            "prometheus:\n  source: recording_rules\n"
            "  recording_rules: {busy_metric: 'a:busy:rate5m', interval: 30s, range: 5m,\n"
            "                    heartbeat_metric: 'a:rules:heartbeat'}\n",
        ),
        env={},
    )
    assert c.prometheus.source == "recording_rules"
    rules = c.prometheus.recording_rules
    assert (rules.busy_metric, rules.idle_metric, rules.heartbeat_metric) == (
        "a:busy:rate5m",
        "instance:node_cpu_idle_seconds:rate2m",
        "a:rules:heartbeat",
    )
    assert (rules.interval_seconds, rules.range_seconds) == (30, 300)


def problems_of(tmp_path, text):
    """The problems a config file of this text is refused with."""
    with pytest.raises(ConfigError) as err:
        load(write(tmp_path, text), env={})
    return err.value.problems


def test_recording_rules_problems_are_reported_by_key(tmp_path):
    text = (
        "prometheus:\n  source: rules\n  recording_rules:\n"
        "    busy_metric: 'bad name'\n    idle_metric: x\n    interval: 0s\n    colour: red\n"
    )
    problems = "\n".join(problems_of(tmp_path, text))
    for key in ("source", "busy_metric", "interval", "colour"):
        assert f"prometheus.{'recording_rules.' if key != 'source' else ''}{key}:" in problems


def test_a_job_matcher_is_refused_with_the_recording_rules_which_have_no_job(tmp_path):
    """The shipped rules count a node scraped by several jobs once, taking ``job`` away."""
    rules = "prometheus:\n  source: recording_rules\n  matchers: {job: node, env: prod}\n"
    assert problems_of(tmp_path, rules) == [
        "prometheus.matchers.job: the recording rules count a node scraped by several jobs "
        "once and record no job label, so this matches none of their series: select the job "
        "in prometheus/ada-carbon-rules.yml instead"
    ]
    # Other labels are kept on the rule series; the raw counters have job.
    ok = "prometheus:\n  source: recording_rules\n  matchers: {env: prod}\n"
    assert load(write(tmp_path, ok), env={}).prometheus.matchers == {"env": "prod"}
    raw = load(write(tmp_path, "prometheus:\n  matchers: {job: node}\n"), env={})
    assert raw.prometheus.matchers == {"job": "node"}


def test_recording_rules_names_must_differ(tmp_path):
    text = (
        "prometheus:\n"
        "  recording_rules: {heartbeat_metric: 'instance:node_cpu_idle_seconds:rate2m'}\n"
    )
    assert problems_of(tmp_path, text) == [
        "prometheus.recording_rules: busy_metric, idle_metric and heartbeat_metric must differ"
    ]
