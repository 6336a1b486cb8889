"""The phone network seam: the simulated network (default), later SIP and media servers."""
