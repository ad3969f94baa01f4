"""One mapping of ``exporter.yaml`` as the schema walks it: each key read and checked
once, every problem kept with its path, the keys never read reported as unknown."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import exporter.config.values as v

T = TypeVar("T")


class Section:
    """Reads one mapping of the YAML, remembering which keys were used and what was wrong."""

    def __init__(self, data: object, path: str, problems: list[str], env: Mapping[str, str]):
        self.path, self.problems, self.env = path, problems, env
        if data is None:
            data = {}
        if not isinstance(data, dict):
            problems.append(f"{path or 'config'}: expected a mapping, got {type(data).__name__}")
            data = {}
        self.data: dict[Any, Any] = data
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def get(self, name: str, default: T, check: Callable[[Any], T], var: str = "") -> T:
        """The key's value, checked; environment variable ``var`` wins, checked alike."""
        self.used.add(name)
        if self.data.get(name) is not None:
            default = self._check(self.key(name), self.data[name], check, default)
        if var and self.env.get(var):
            default = self._check(f"{var} (environment variable)", self.env[var], check, default)
        return default

    def secret(self, name: str, var: str, header: bool = False) -> str | None:
        """The secret in environment variable ``var``, else in the file the key names."""
        if not self.env.get(var):
            return self.get(name, None, lambda file: v.secret_file(file, header))
        self.used.add(name)
        where, check = f"{var} (environment variable)", v.header_value if header else str
        return self._check(where, self.env[var], check, None)

    def _check(self, where: str, raw: object, check: Callable[[Any], T], default: T) -> T:
        try:
            return check(raw)
        except (TypeError, ValueError, OSError) as exc:
            self.problems.append(f"{where}: {exc}")
            return default

    def section(self, name: str) -> Section:
        self.used.add(name)
        return Section(self.data.get(name), self.key(name), self.problems, self.env)

    def done(self) -> None:
        self.problems += v.unknown_keys(
            self.path, [k for k in self.data if str(k) not in self.used]
        )
