"""The publish stage: an approved draft copied to S3, a folder and optionally Slack, once."""

from tasks.publish._stage import PUBLISHED_FILE, REVIEW_FILE, publish, sha256_file
from tasks.publish.targets import FolderTarget, S3Target, Target, open_target

__all__ = [
    "PUBLISHED_FILE",
    "REVIEW_FILE",
    "FolderTarget",
    "S3Target",
    "Target",
    "open_target",
    "publish",
    "sha256_file",
]
