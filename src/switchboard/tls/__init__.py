"""Switchboard under Bandwidth's own hostnames over TLS (issue 22): the per-installation CA,
its leaf certificate, and the second listener `serve` opens with them."""

# Where Bandwidth's SDKs send Voice API calls and OAuth2 token requests. Kept here, free of
# imports, so switchboard.testing can run in an app's own virtual environment (stdlib only).
BANDWIDTH_HOSTNAMES = ("voice.bandwidth.com", "api.bandwidth.com")
