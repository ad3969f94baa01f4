"""Build the sources from the configuration: clients created once, then injected."""

from __future__ import annotations

import httpx
from pymongo import MongoClient

from exporter.config import Config, mask_url
from exporter.demo import DemoFleet, DemoIntensity, DemoOwnership, DemoUsage
from exporter.refresh import Refresh
from exporter.sources import IntensitySource, OwnershipSource, UsageSource
from exporter.sources.carbon_intensity.client import CarbonIntensityAPI
from exporter.sources.carbon_intensity.fixed import FixedIntensity
from exporter.sources.mongodb import MongoOwnership
from exporter.sources.prometheus.client import http_client
from exporter.sources.prometheus.usage import PrometheusUsage


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


def prometheus_usage(config: Config) -> PrometheusUsage:
    """The Prometheus usage source, over the one Prometheus client."""
    p = config.prometheus
    return PrometheusUsage(http_client(p), p, config.modes.busy, config.modes.idle)


def build_refresh(config: Config) -> Refresh:
    """A Refresh over the configured sources, the demo replacing those in ``demo_sources``."""
    fleet = DemoFleet()
    usage: UsageSource
    ownership: OwnershipSource
    intensity: IntensitySource
    usage = DemoUsage(fleet) if "prometheus" in config.demo_sources else prometheus_usage(config)
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
    return Refresh(config, usage, ownership, intensity, label)


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
