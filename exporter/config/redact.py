"""Keep every configured secret out of the log, whatever exception text carries it."""

from __future__ import annotations

import base64
import logging
from urllib.parse import unquote

from exporter.config.settings import Config
from exporter.config.values import userinfo

MASK = "<secret>"
# A shorter header value is a name (a tenant such as "ada"), not a credential, and
# masking it would mask that word in every line.
SHORTEST_HEADER_SECRET = 8


def url_secrets(url: str) -> list[str]:
    """A URL's password, as written and decoded, and the Basic credentials built from it."""
    start, end = userinfo(url)
    user, colon, password = url[start:end].partition(":")
    if not (colon and password):
        return []
    basic = f"{unquote(user)}:{unquote(password)}".encode()
    return [password, unquote(password), base64.b64encode(basic).decode()]


def secrets_of(config: Config, *urls: str) -> list[str]:
    """Every secret in the configuration and ``urls``, as an error's text could quote it."""
    p, m = config.prometheus, config.mongodb
    found = [p.bearer_token, p.password, m.password]
    found += [v for v in p.headers.values() if len(v) >= SHORTEST_HEADER_SECRET]
    if p.username is not None and p.password:  # as the Authorization header carries it
        found.append(base64.b64encode(f"{p.username}:{p.password}".encode()).decode())
    for url in (p.url, m.uri, config.carbon_intensity.url, *urls):
        found += url_secrets(url)
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


def scrub_logs(config: Config, *urls: str) -> None:
    """Scrub this configuration's secrets from every record the root logger's handlers see."""
    secrets = secrets_of(config, *urls)
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, ScrubSecrets)]:
            handler.removeFilter(old)
        if secrets:
            handler.addFilter(ScrubSecrets(secrets))


def scrub(config: Config, text: str, *urls: str) -> str:
    """``text`` with this configuration's secrets (and those of ``urls``) masked."""
    return ScrubSecrets(secrets_of(config, *urls)).scrub(text)
