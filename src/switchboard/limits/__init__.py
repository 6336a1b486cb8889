"""Per-account limits: calls per second, concurrent calls, and the outbound call queue."""
