"""Error types. Each message should tell a beamline scientist what went wrong and what to do."""

from __future__ import annotations


class InterleaveError(Exception):
    """Base class of every error this package raises on purpose."""


class UnsafePathError(InterleaveError, ValueError):
    """A prefix or path from a user would leave the data directory or clash with the naming."""


class PlanError(InterleaveError, ValueError):
    """An interleaved task cannot be turned into a schedule of wedges."""


class RecordError(InterleaveError):
    """The acquisition record is missing, corrupt or inconsistent with the files on disk."""


class DetectorError(InterleaveError, RuntimeError):
    """The (simulated) detector refused or failed an acquisition.

    A RuntimeError on purpose: mxcubecore's ``AbstractCollect.do_collect`` only turns RuntimeError
    into ``collectOscillationFailed``; anything else leaves ``collect()`` waiting forever.
    """


class OverwriteRefusedError(DetectorError, FileExistsError):
    """A file that would be written already exists; nothing was written."""


class RepackageError(InterleaveError):
    """A sweep master cannot be written or does not validate; nothing was written."""


class MurkoError(InterleaveError, RuntimeError):
    """Murko did not give a usable answer."""


class MurkoTimeoutError(MurkoError, TimeoutError):
    """Murko did not answer in time (dead, overloaded or unreachable server)."""


class MurkoProtocolError(MurkoError):
    """Murko answered, but not with a reply of the documented schema."""


class UnsafeReplyError(MurkoProtocolError):
    """A reply tried to load a Python object outside the allowed numpy types (possible attack)."""


class CentringError(InterleaveError, RuntimeError):
    """Automatic centring failed; the motors were not moved."""


class CentringRefused(CentringError):
    """Murko's answer failed a plausibility check (``check`` names it); nothing was moved."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(message)
        self.check = check
