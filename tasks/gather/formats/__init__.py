"""Log format parsers: one module per format, and the registry that names them."""

from tasks.gather.formats._all import *  # noqa: F403
