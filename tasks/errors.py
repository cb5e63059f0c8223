"""One error tree for the whole tool; the CLI maps each class to an exit code in one place.

`str(error)` is the one sentence a user reads: it names the file, object or field at fault.
Callers catch by type; a traceback that reaches the user is a bug.
"""

from __future__ import annotations


class PostmortemError(Exception):
    """The root of every error this tool raises on purpose."""

    exit_code = 1


class SpecError(PostmortemError, ValueError):
    """An incident spec (or an option standing in for one) that cannot be used."""

    exit_code = 2


class StorageError(PostmortemError):
    """A storage call failed; the message names the bucket, prefix or key."""

    exit_code = 3


class SourceError(StorageError):
    """A whole source could not be listed: a missing bucket, access denied, a bad folder."""


class ObjectError(StorageError):
    """One object could not be read; the run goes on without it and the manifest says why."""


class StageError(PostmortemError):
    """A stage failed after the earlier ones had finished; their results are kept."""

    exit_code = 4

    def __init__(self, stage: str, cause: str) -> None:
        super().__init__(f"The {stage} stage failed: {cause}")


class ReviewError(PostmortemError):
    """The review gate refused something: a publish without a matching approval, a reviewer who
    is not on the allowlist, a run that is not waiting for review."""

    exit_code = 5


def one_line(exc: BaseException, limit: int = 300) -> str:
    """`Type: message` on one line, whitespace collapsed and cut at `limit` characters.

    For a sentence naming a failure: remote errors (Dask's, for one) often run over several
    lines, and keeping only the first would drop the part that says what went wrong.
    """
    message = " ".join(str(exc).split())[:limit]
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
