"""Prometheus: the one HTTP client (:mod:`.client`), the PromQL sent (:mod:`.queries`,
escaped by :mod:`.promql`), the answers read (:mod:`.parse`) and the usage source
over them (:mod:`.usage`)."""
