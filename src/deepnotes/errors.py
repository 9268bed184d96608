"""Errors a user can cause, and nothing else.

Every exception here means "the input was wrong", never "the code is wrong".
The command line prints such an error as one line on stderr and exits with a
non-zero code, with no traceback (docs/ARCHITECTURE.md, "Contracts"); a programming error
keeps its traceback, because a user should report it.
"""


class UserError(Exception):
    """Bad input from the user: the CLI prints it as one line and exits with `exit_code`."""

    exit_code = 2


class UnknownNameError(UserError, LookupError):
    """A name that is not in a registry; the message suggests the closest names."""


class DataNotFoundError(UserError, FileNotFoundError):
    """A data set that is not on disk under any data root that was tried."""


class CheckpointError(UserError):
    """A checkpoint that is missing, truncated, corrupted or from another run."""


class TrainingDivergedError(UserError):
    """The loss or the weights became NaN or infinite; the last good checkpoint is kept."""

    exit_code = 1


class WriteError(UserError):
    """A file of a run could not be written: a full disk, a read-only folder, a name too long."""

    exit_code = 1
