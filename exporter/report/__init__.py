"""Reading the exporter's own series back from Prometheus, for ``report`` (:mod:`.fetch`)."""
