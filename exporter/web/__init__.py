"""The exporter's own endpoint: HTTP server, TLS and basic auth, the container healthcheck."""
