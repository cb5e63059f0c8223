"""The stages of postmortem-flows: each module is one stage, with contracts in models.py."""
