"""Keep every configured secret out of the log, whatever exception text carries it."""

from __future__ import annotations

import base64
import logging

from exporter.config.settings import Config
from exporter.config.values import url_password

MASK = "<secret>"
# A shorter header value is a name (a tenant such as "ada"), not a credential, and
# masking it would mask that word in every line.
SHORTEST_HEADER_SECRET = 8


def secrets_of(config: Config) -> list[str]:
    """Every secret the configuration holds, as an error's text could quote it."""
    p, m = config.prometheus, config.mongodb
    found = [p.bearer_token, p.password, m.password]
    found += [v for v in p.headers.values() if len(v) >= SHORTEST_HEADER_SECRET]
    if p.username is not None and p.password:  # as the Authorization header carries it
        found.append(base64.b64encode(f"{p.username}:{p.password}".encode()).decode())
    for url in (p.url, m.uri, config.carbon_intensity.url):
        found += url_password(url)
    return sorted({s for s in found if s}, key=len, reverse=True)  # longest first


class ScrubSecrets(logging.Filter):
    """Replaces each secret in a record's message and traceback by ``<secret>``."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.msg, record.args = self.scrub(record.getMessage()), None
        except (TypeError, ValueError):  # a bad format: logging reports it as it formats
            return True
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.exc_text = record.exc_text and self.scrub(record.exc_text)
        return True


def scrub_logs(config: Config) -> None:
    """Scrub this configuration's secrets from every record the root logger's handlers see."""
    secrets = secrets_of(config)
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, ScrubSecrets)]:
            handler.removeFilter(old)
        if secrets:
            handler.addFilter(ScrubSecrets(secrets))
