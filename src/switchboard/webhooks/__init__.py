"""Webhooks: callback payloads (pure builders) and their delivery to the application."""
