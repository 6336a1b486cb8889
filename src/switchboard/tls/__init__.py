"""Switchboard under Bandwidth's own hostnames over TLS (issue 22): the per-installation CA,
its leaf certificate, and the second listener `serve` opens with them."""
