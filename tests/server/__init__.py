"""Tests of the tracking server (HTTP API, artifact proxy, logged models)."""
