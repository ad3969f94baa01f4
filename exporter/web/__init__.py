"""The exporter's own endpoint: HTTP server, TLS and basic auth, the container healthcheck.

Empty on purpose: the healthcheck runs every 30 s and imports the standard library only.
"""
