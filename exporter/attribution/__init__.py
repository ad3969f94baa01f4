"""The attribution rule: whose CPU-seconds are whose, read top to bottom.

1. :mod:`~exporter.attribution.hosts`: one exact key for every spelling of a host,
   Prometheus' ``instance`` and MongoDB's ``hostname`` alike.
2. :mod:`~exporter.attribution.timelines`: who owned each host when over the window
   (tenures, pool workspaces, overlapping claims, ``unattributed``).
3. :mod:`~exporter.attribution.split`: each host's usage shared between its tenures.
4. :mod:`~exporter.attribution.join`: the join of the hosts Prometheus measures with
   those MongoDB knows (workspace info, hosts only one side knows).
5. :mod:`~exporter.attribution.experiments`: which experiment a user's usage belongs
   to (reports only).

All of it is pure: values in, values out, no I/O.
"""

from exporter.attribution.split import Share, attribute
from exporter.attribution.timelines import Tenure, Timelines, build_timelines

__all__ = ["Share", "Tenure", "Timelines", "attribute", "build_timelines"]
