"""Prefect flows and the `postmortem` command line; they wire stages together and hold no logic."""
