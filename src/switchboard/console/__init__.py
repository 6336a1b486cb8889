"""The web console (issue 14): static files served at `/` and `/console/...`, and the JSON and
event-stream endpoints under `/switchboard/v1` that only it needs."""
