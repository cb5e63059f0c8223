"""The stages of postmortem-flows, one sub-package each; the contracts between them live in contracts/."""
