"""Which part of the grid intensity is asked for: national (GB), a region id, or a postcode.

Regions follow the Carbon Intensity API's distribution network areas (ids 1-17).
A region's label is known before any request: "GB" for national, the table name
for an id, the outward code for a postcode (which the adapter replaces by the
region's shortname once a response has given it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

REGION_NAMES = {
    1: "North Scotland",
    2: "South Scotland",
    3: "North West England",
    4: "North East England",
    5: "Yorkshire",
    6: "North Wales",
    7: "South Wales",
    8: "West Midlands",
    9: "East Midlands",
    10: "East England",
    11: "South West England",
    12: "South England",
    13: "London",
    14: "South East England",
    15: "England",
    16: "Scotland",
    17: "Wales",
}
# UK outward codes: A9, A99, AA9, AA99, A9A, AA9A (e.g. OX11, M1, EC1A).
_OUTWARD = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?$")
_FULL_POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}$")


@dataclass(frozen=True)
class Region:
    """Where intensity is asked for: ``national``, ``regionid`` (code "1"-"17") or ``postcode``."""

    kind: str = "national"
    code: str = ""

    @property
    def label(self) -> str:
        """The region label before any response: GB, the region's name, or the postcode."""
        if self.kind == "regionid":
            return REGION_NAMES[int(self.code)]
        return self.code if self.kind == "postcode" else "GB"

    @property
    def has_actuals(self) -> bool:
        """Only national data has measured (``actual``) values; regional data is forecast."""
        return self.kind == "national"

    def range_path(self, start: str, end: str) -> str:
        """The API path of the slots from ``start`` to ``end`` (API time strings)."""
        if self.kind == "national":
            return f"/intensity/{start}/{end}"
        return f"/regional/intensity/{start}/{end}/{self.kind}/{self.code}"

    def forecast_path(self, start: str) -> str:
        """The API path of the 48 h forecast from ``start``."""
        return self.range_path(start, "fw48h")


NATIONAL = Region()


def parse_region(value: object) -> Region:
    """A Region from the config value: ``national``, an id 1-17, or an outward postcode.

    Raises ValueError with a message naming what is accepted.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected national, a region id 1-17 or a postcode, got {value!r}")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int):
        if value not in REGION_NAMES:
            raise ValueError(f"region id must be 1-17, got {value}")
        return Region("regionid", str(value))
    if not isinstance(value, str):
        raise ValueError(f"expected national, a region id 1-17 or a postcode, got {value!r}")
    text = value.strip().upper()
    if text in ("NATIONAL", "GB"):  # GB: the region label national data carries
        return NATIONAL
    if _OUTWARD.match(text):
        return Region("postcode", text)
    if _FULL_POSTCODE.match(text):
        raise ValueError(f"give only the outward code of the postcode (e.g. OX11), got {value!r}")
    raise ValueError(
        f"expected national, a region id 1-17 or an outward postcode like OX11, got {value!r}"
    )
