"""The call: its record, its validation, its state machine and the engine that drives it."""
