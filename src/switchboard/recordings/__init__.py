"""Recordings: taps -> files, the recordings/transcriptions API's data, storage (issue 13)."""
