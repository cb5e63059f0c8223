"""One writer per log format: each turns records into objects in that format's S3 layout."""

from tasks.synthetic.writers.alb import AlbEntry, AlbWriter, Client
from tasks.synthetic.writers.cloudtrail import CloudTrailWriter
from tasks.synthetic.writers.fluentbit import FluentBitWriter

__all__ = ["AlbEntry", "AlbWriter", "Client", "CloudTrailWriter", "FluentBitWriter"]
