"""The virtual phones the end-to-end server knows (conftest.PHONES configures them), by what
they do, so that every test names a callee the same way."""

from __future__ import annotations

ANSWERS = "+15555550108"  # not configured: answers after 2 s, as every number, presses nothing
NO_ANSWER = "+15555550103"  # rings until callTimeout
PRESSES_1234 = "+15555550105"  # answers after 1 s; presses 1234# 1 s into each Gather
BUSY = "+15555550101"  # answers 486 Busy Here
FAILS = "+15555550104"  # the network fails to place the call (503)
HANGS_UP = "+15555550106"  # answers after 1 s, hangs up 5 s later
