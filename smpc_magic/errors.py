"""Exception classes raised by smpc_magic, with messages written for the analyst.

Every error a user can meet derives from :class:`SmpcError`; transport errors from
``kernel_bridge`` derive from :class:`kernel_bridge.errors.BridgeError` and are re-exported here.
"""

from __future__ import annotations

import math

from kernel_bridge.errors import (
    BridgeError,
    FrameError,
    PeerAborted,
    PeerDisconnected,
    PeerTimeout,
    SessionFileError,
)

__all__ = [
    "BridgeError",
    "CellBoundaryError",
    "ApprovalRequiredError",
    "CellError",
    "CellInterrupted",
    "CellLimitError",
    "DisclosureError",
    "EncodingError",
    "FalseShareError",
    "FrameError",
    "InputMismatchError",
    "MissingContributionError",
    "NumericalRangeError",
    "PrecisionError",
    "OverflowRiskError",
    "PartyFailed",
    "PeerAborted",
    "PeerDisconnected",
    "PeerTimeout",
    "PolicyError",
    "MissingValuesError",
    "PreprocessingError",
    "RangeNeededError",
    "RangeRequiredError",
    "SchemaError",
    "SecretValueError",
    "SessionFileError",
    "SmpcError",
    "SmpcWarning",
    "UnknownNameError",
]


class SmpcError(Exception):
    """Base class of every smpc_magic error."""


class CellInterrupted(KeyboardInterrupt):
    """The analyst interrupted a ``%%smpc`` cell (the kernel's stop button): the other sites were
    told and stopped; shown as one line, not as the library's traceback. Still a
    KeyboardInterrupt, so code that stops on one stops on this."""


class SmpcWarning(UserWarning):
    """Something the sites should know that did not stop the cell (e.g. a false share that the
    Shamir protocol corrected, naming the site that sent it)."""


class EncodingError(SmpcError, ValueError):
    """A private value cannot be encoded (NaN, infinity, out of the fixed-point range, bad type)."""


class OverflowRiskError(SmpcError, ArithmeticError):
    """An operation's result could leave the range the ring holds, judged from public bounds
    (declared ranges, shapes, function ranges) before anything is sent. ``operation``,
    ``bound`` (largest possible magnitude) and ``limit`` (what fits) say which and by how much."""

    def __init__(self, message: str, *, operation: str = "", bound: float = math.inf, limit: float = math.nan):
        super().__init__(message)
        self.operation, self.bound, self.limit = operation, bound, limit


class RangeRequiredError(OverflowRiskError):
    """An operation needs a public range that was not declared: the message lists every private
    column without one and gives the lines to paste (the study schema, ``simulate(ranges=)``,
    ``%smpc private NAME --range``)."""


class RangeNeededError(SmpcError, ValueError):
    """A function needs a property of its input's declared range (person-time declared
    non-negative, an exposure declared positive, any range at all) that the range does not show.
    Raised before anything is sent; with no range declared at all it becomes
    :class:`RangeRequiredError`. ``inputs``: the secrets it needed it for (the error names
    only those of the private inputs; never sent to a peer)."""

    def __init__(self, message: str, *, inputs: tuple[object, ...] = ()):
        super().__init__(message)
        self.inputs = inputs


class NumericalRangeError(SmpcError, ArithmeticError):
    """A statistical method's public assumption did not hold for this data (a matrix too close to
    singular, an iteration that did not converge); one public bit said so, nothing else left."""


class PrecisionError(NumericalRangeError):
    """A result could not be computed to its stated accuracy at the precision the declared
    ranges leave: a column that varies far less than its declared range (one public bit said
    so), or a value whose carried error bound, a public fact, is beyond what a release allows
    (nothing was sent). Declare ranges close to the data's, or rescale."""


class SecretValueError(SmpcError, TypeError):
    """A secret was used where a plain value is needed (``if``, ``float()``, printing...)."""


class MissingValuesError(SecretValueError):
    """A value derived from a variable that may be missing (shared as 0 where it is) used where
    the missing rows cannot be left out: it would count them as 0. Raised before anything is
    sent; the message names the variable and what to use instead."""


class StreamedRowsError(SecretValueError):
    """A row-level operation on a private frame read in blocks (``smpc_magic.rows``): its rows
    are never shared, only aggregates of them."""

    @classmethod
    def about(cls, frame: str, detail: str | None = None) -> StreamedRowsError:
        from_rows = (
            f"{frame!r} is read in row blocks at each site (smpc_magic.rows), so its rows are never shared: only "
            "aggregates of it are available (smpc.stats.mean, var, std, cov, corr, describe, ols and crosstab, and "
            ".sum() or .mean() of a column or of the frame). For row-level work (new columns, comparisons, logistic "
            "regression), mark a data frame that fits in memory private instead."
        )
        return cls(f"{detail}. {from_rows}" if detail else from_rows)


class CellError(SmpcError):
    """The cell cannot run as a secure computation (syntax, forbidden construct, bad reveal)."""


class CellLimitError(SmpcError):
    """The cell's own work at this site (its evaluation, not the time spent waiting for the other
    sites) used more CPU time than the session allows (``cell_cpu_seconds``); the cell was
    stopped here and the other sites were told. ``seconds`` is the limit."""

    def __init__(self, message: str, *, seconds: float = math.nan):
        super().__init__(message)
        self.seconds = seconds


class CellBoundaryError(CellError):
    """The cell used something outside what a %%smpc cell may use (a refused construct,
    attribute or function). ``construct`` names it; ``line`` is the cell's line, when known."""

    def __init__(self, message: str, *, construct: str, line: int | None = None):
        self.reason, self.construct, self.line = message, construct, line
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"{where}{message}. {BOUNDARY_HINT}")

    def at_line(self, line: int) -> CellBoundaryError:
        return CellBoundaryError(self.reason, construct=self.construct, line=line)


BOUNDARY_HINT = (
    "A cell may use its private and --public names, numbers, lists and dicts, the allow-listed "
    "np.* and smpc.* functions, and the attributes listed in README (e.g. .shape, .sum(), .T)."
)


class SchemaError(SmpcError, ValueError):
    """A study schema is malformed, or a site's data breaks it (names the column, the rule and
    how many rows)."""


class UnknownNameError(CellError, NameError):
    """The cell uses a name that is neither private, public, assigned in the cell nor built in."""


class InputMismatchError(SmpcError):
    """The parties disagree on the cell, its arguments, public values or input shapes."""


class MissingContributionError(InputMismatchError):
    """A private name the cell uses is not provided by every site, and the cell did not say
    that some sites contribute nothing (``--partial NAME``). ``name`` and ``sites`` (the
    sites without it) say which."""

    def __init__(self, message: str, *, name: str = "", sites: tuple[str, ...] = ()):
        super().__init__(message)
        self.name, self.sites = name, sites


class FalseShareError(SmpcError):
    """An opening's shares do not lie on one polynomial (Shamir protocol): some party reported
    a false share. Nothing was released. ``parties`` names the sites identified, if any."""

    def __init__(self, message: str, *, parties: tuple[str, ...] = ()):
        super().__init__(message)
        self.parties = parties


class PreprocessingError(SmpcError):
    """Preprocessing material (triples, masks) is missing, inconsistent or could not be fetched."""


class PartyFailed(SmpcError):
    """A party's process failed during :func:`smpc_magic.simulate`; names the party."""

    def __init__(self, party: str, message: str, error_type: str = "SmpcError"):
        super().__init__(f"party {party!r} failed: {error_type}: {message}")
        self.party = party
        self.error_type = error_type
        self.detail = message


class PolicyError(SmpcError, ValueError):
    """A site policy is malformed, or the cell asks for something the sites' policies do not
    allow (a recipient, too few rows at a site); nothing was shared."""


class DisclosureError(SmpcError):
    """A declared release failed a disclosure rule, checked securely on the pooled data: the
    whole cell's release was withheld at every site. ``rule`` and ``name`` say which; the
    values are never in the message."""

    def __init__(self, message: str, *, rule: str = "", name: str = ""):
        super().__init__(message)
        self.rule, self.name = rule, name


class TimePointsError(DisclosureError):
    """Two statistics of one kind in a cell read the same time variable at different public time
    points: the rows between one's points and the other's would be a group no rule checks.
    Refused before the second statistic sends anything (the points are public, so every site
    refuses alike); nothing of the cell is released."""

    def __init__(self, message: str):
        super().__init__(message, rule="time_points")


class ApprovalRequiredError(SmpcError):
    """A site's custodian requires approval of each exact cell, and this one is not approved
    there (``sites``); ``digest`` is what the custodian approves (``smpc approve``)."""

    def __init__(self, message: str, *, sites: tuple[str, ...] = (), digest: str = ""):
        super().__init__(message)
        self.sites, self.digest = sites, digest
