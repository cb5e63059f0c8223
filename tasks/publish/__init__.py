"""The publish stage: an approved draft (or weekly review) copied to S3, a folder and optionally
Slack, once."""

from tasks.publish._stage import (
    PUBLISHED_FILE,
    REVIEW_FILE,
    publish,
    publish_weekly,
    sha256_file,
)
from tasks.publish.targets import FolderTarget, S3Target, Target, open_target

__all__ = [
    "PUBLISHED_FILE",
    "REVIEW_FILE",
    "FolderTarget",
    "S3Target",
    "Target",
    "open_target",
    "publish",
    "publish_weekly",
    "sha256_file",
]
