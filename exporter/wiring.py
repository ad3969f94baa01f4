"""Build the sources from the configuration: clients created once, then injected."""

from __future__ import annotations

import ssl

import httpx
from pymongo import MongoClient

from exporter.config import Config, mask_url
from exporter.demo import DemoFleet, DemoIntensity, DemoOwnership, DemoUsage
from exporter.engine import Engine
from exporter.model import IntensitySource, OwnershipSource, UsageSource
from exporter.sources.carbon_intensity.client import CarbonIntensityAPI
from exporter.sources.carbon_intensity.fixed import FixedIntensity
from exporter.sources.mongodb import MongoOwnership
from exporter.sources.prometheus import PrometheusUsage


def prometheus_client(config: Config, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """The HTTP client for Prometheus: auth, extra headers (e.g. X-Scope-OrgID), TLS settings.

    Answers come uncompressed unless ``prometheus.gzip`` is on: beside Prometheus,
    gzip costs more than it saves (at 10,000 hosts Prometheus spends about 0.3 s of
    CPU compressing the 5 MB answer of the split hosts' steps, which then arrives
    3 times later). A ``headers`` entry for Accept-Encoding wins over both.
    """
    p = config.prometheus
    headers = httpx.Headers(p.headers)
    if not p.gzip and "accept-encoding" not in headers:
        headers["Accept-Encoding"] = "identity"
    auth: httpx.Auth | None = None
    if p.bearer_token:
        headers["Authorization"] = f"Bearer {p.bearer_token}"
    elif p.username is not None:
        auth = httpx.BasicAuth(p.username, p.password or "")
    # TLS is verified unless tls_verify is false; ca_file adds a private CA to trust.
    verify: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=p.ca_file) if p.ca_file else p.tls_verify
    )
    return httpx.Client(
        headers=headers, auth=auth, verify=verify, timeout=p.timeout_seconds, transport=transport
    )


def mongo_ownership(config: Config) -> MongoOwnership:
    """The MongoDB adapter, its client bounded by the configured timeout at every step."""
    m = config.mongodb
    ms = int(m.timeout_seconds * 1000)
    client: MongoClient[dict[str, object]] = MongoClient(
        m.uri,
        username=m.username,
        password=m.password,
        appname="ada-carbon-exporter",
        serverSelectionTimeoutMS=ms,
        connectTimeoutMS=ms,
        socketTimeoutMS=ms,
        connect=False,
        # One document the driver cannot decode must not fail the whole query: a date
        # past year 9999 comes back as a DatetimeMS (then counted as a bad date), and
        # bytes that are not UTF-8 as U+FFFD (then counted as a bad name).
        datetime_conversion="DATETIME_AUTO",
        unicode_decode_error_handler="replace",
    )
    return MongoOwnership(client, m.database, m.timeout_seconds)


def build_engine(config: Config) -> Engine:
    """An Engine over the configured sources, the demo replacing those in ``demo_sources``."""
    fleet = DemoFleet()
    usage: UsageSource
    ownership: OwnershipSource
    intensity: IntensitySource
    if "prometheus" in config.demo_sources:
        usage = DemoUsage(fleet)
    else:
        usage = PrometheusUsage(
            prometheus_client(config), config.prometheus, config.modes.busy, config.modes.idle
        )
    if "mongodb" in config.demo_sources:
        ownership = DemoOwnership(fleet)
    else:
        ownership = mongo_ownership(config)
    label = "api"
    ci = config.carbon_intensity
    if "carbon_intensity" in config.demo_sources:
        intensity, label = DemoIntensity(), "demo"
    elif ci.source == "fixed":
        intensity, label = FixedIntensity(ci.fixed_gco2_per_kwh), "fixed"
    else:
        intensity = CarbonIntensityAPI(
            httpx.Client(timeout=ci.timeout_seconds), ci.url, ci.timeout_seconds, region=ci.region
        )
    return Engine(config, usage, ownership, intensity, label)


def describe_sources(config: Config) -> str:
    """Where data comes from, in one secret-free line for the log and the landing page."""

    def where(source: str, real: str) -> str:
        return "built-in demo" if source in config.demo_sources else real

    ci = config.carbon_intensity
    intensity = (
        f"fixed {ci.fixed_gco2_per_kwh:g} gCO2/kWh"
        if ci.source == "fixed"
        else f"{mask_url(ci.url)} (region {ci.region.label})"
    )
    mongo = f"{mask_url(config.mongodb.uri)}/{config.mongodb.database}"
    return (
        f"prometheus={where('prometheus', mask_url(config.prometheus.url))}, "
        f"mongodb={where('mongodb', mongo)}, "
        f"carbon_intensity={where('carbon_intensity', intensity)}"
    )
