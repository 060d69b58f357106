"""The protocol suite interface: everything protocol-specific, behind one abstract class.

Secret arrays, the function library and the engine call only these methods, so a second
protocol (the planned Shamir suite) implements this interface and nothing above it changes.
A share is a numpy array with the secret's shape and the codec's dtype, shared elementwise:
structural operations (indexing, reshape, transpose, concatenate, stack, selecting with a public
mask) apply to a share directly and give a share of the result. Everything else that touches
share values goes through the suite.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from ..errors import PreprocessingError
from .channel import ArraySpec

if TYPE_CHECKING:
    from .context import ProtocolContext

Array = npt.NDArray[Any]
#: Asks the session's dealer for something: (request kind, JSON-able meta) -> (reply meta, arrays).
DealerRequest = Callable[[str, dict[str, Any]], tuple[dict[str, Any], list[Array]]]


class Codec(ABC):
    """How a suite represents numbers: the share dtype, encodings and the representable limit.

    A value v at ``scale`` s is the integer round(v * 2**s) (s = 0 for exact integers)."""

    #: dtype of shares and of encoded values
    dtype: np.dtype[Any]
    #: encoded magnitudes must stay below 2**limit_bits for truncation and comparison to be exact
    limit_bits: int

    @abstractmethod
    def encode_input(self, values: Array, frac_bits: int, what: str) -> tuple[Array, int]:
        """A private input: integers and booleans at scale 0, floats at ``frac_bits``.

        Raises :class:`~smpc_magic.errors.EncodingError` (naming ``what``) for NaN, infinity,
        text or values beyond the limit, so nothing is shared."""

    @abstractmethod
    def encode_public(self, values: Array, scale: int) -> Array:
        """A public number (or array) at ``scale``, as the codec's dtype."""

    @abstractmethod
    def decode(self, encoded: Array, scale: int) -> Array:
        """Opened values back to numbers: int64 at scale 0, float64 otherwise."""

    def max_magnitude(self, scale: int) -> float:
        """Largest |value| representable at ``scale`` (what inputs must stay below)."""
        return float(2 ** (self.limit_bits - scale))


@dataclass(frozen=True)
class MaterialNeed:
    """``count`` units of one stream of preprocessing material (a kind and its parameters)."""

    kind: str
    params: tuple[Any, ...]
    count: int


class MaterialSource(ABC):
    """Where a party's protocols take preprocessing material from. Never hands out the same twice."""

    @abstractmethod
    def take(self, kind: str, params: tuple[Any, ...], count: int = 1) -> dict[str, Array]:
        """This party's shares of the next ``count`` elements (flat kinds) or next item (shaped)."""

    @property
    def digest(self) -> str:
        """A running digest of the material drawn so far; the channel sends it with every message
        so parties that drew different material fail at the next round instead of computing garbage."""
        return ""

    def ensure(self, kind: str, params: tuple[Any, ...], count: int) -> None:
        """Stock ``count`` units of a stream ahead of time (the offline phase)."""
        raise PreprocessingError("this protocol's parties make their material during the computation")

    def usage(self) -> list[MaterialNeed]:
        """Units drawn so far, one entry per stream (for the audit record and the benchmark)."""
        return []


class InputSharing(ABC):
    """Sharing the parties' private inputs in one computation.

    The suite may attach arrays to the rendezvous message (``outgoing``, checked against
    ``expected``), so input sharing costs no round of its own."""

    @abstractmethod
    def outgoing(self) -> dict[int, list[Array]]:
        """Arrays this party attaches to its rendezvous message to each peer."""

    @abstractmethod
    def expected(self) -> list[ArraySpec]:
        """What every peer must attach to its rendezvous message to this party."""

    @abstractmethod
    def receive(self, arrays: Mapping[int, Sequence[Array]]) -> None:
        """The arrays each peer attached to its rendezvous message."""

    @abstractmethod
    def share(self, index: int, owner: int, shape: tuple[int, ...], encoded: Array | None) -> Array:
        """This party's share of input number ``index`` owned by ``owner``; ``encoded`` is the
        owner's encoded value (given at the owner only). Every party calls this in the same order."""


class DealerLogic(Protocol):
    """A suite's dealer: answers one authenticated party's request."""

    def handle(self, party: int, kind: str, meta: dict[str, Any]) -> tuple[str, dict[str, Any], list[Array]]: ...


class ProtocolSuite(ABC):
    """The primitives a computation runs with. Every method is abstract: a suite states each one.

    Local operations cost no communication; interactive ones state rounds and bytes in the
    implementing modules' docstrings. ``ctx`` carries the party, channel and material."""

    name: str
    #: whether a session of this protocol needs a dealer process
    needs_dealer: bool
    codec: Codec

    # ----- local linear operations ------------------------------------------------------------
    @abstractmethod
    def neg(self, x: Array) -> Array:
        """Share of -x."""

    @abstractmethod
    def add(self, x: Array, y: Array) -> Array:
        """Share of x + y (numpy broadcasting)."""

    @abstractmethod
    def sub(self, x: Array, y: Array) -> Array:
        """Share of x - y (numpy broadcasting)."""

    @abstractmethod
    def sum(self, x: Array, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Array:
        """Share of the sum over ``axis``."""

    @abstractmethod
    def mul_public(self, x: Array, public: Array) -> Array:
        """Share of x * p for an encoded public p (elementwise, broadcasting); scales add up."""

    @abstractmethod
    def matmul_public(self, x: Array, public: Array, public_on_left: bool) -> Array:
        """Share of x @ p (or p @ x) for an encoded public p; scales add up."""

    @abstractmethod
    def add_public(self, ctx: ProtocolContext, x: Array, public: Array) -> Array:
        """Share of x + p for an encoded public p (at x's scale)."""

    @abstractmethod
    def constant(self, ctx: ProtocolContext, public: Array) -> Array:
        """A sharing of an encoded public value (no communication)."""

    # ----- interactive primitives -------------------------------------------------------------
    @abstractmethod
    def open(
        self, ctx: ProtocolContext, shares: Sequence[Array], label: str, to: Sequence[int] | None = None
    ) -> list[Array] | None:
        """Reconstruct several arrays at the parties ``to`` (all by default) in one round;
        the encoded values at recipients, None elsewhere."""

    @abstractmethod
    def mul(self, ctx: ProtocolContext, x: Array, y: Array) -> Array:
        """Share of x * y (elementwise, broadcasting); scales add up (no truncation)."""

    @abstractmethod
    def matmul(self, ctx: ProtocolContext, x: Array, y: Array) -> Array:
        """Share of x @ y; scales add up."""

    @abstractmethod
    def gram(self, ctx: ProtocolContext, x: Array) -> Array:
        """Share of x.T @ x for a 2-D x."""

    @abstractmethod
    def div_public(self, ctx: ProtocolContext, x: Array, divisor: int) -> Array:
        """Share of x / divisor for a public integer divisor >= 1 (truncation when a power of two)."""

    @abstractmethod
    def ltz(self, ctx: ProtocolContext, x: Array, bits: int | None = None) -> Array:
        """Share of [x < 0] as 0/1 at scale 0, exact for |x| < 2**bits (encoded units);
        ``None`` means the codec's whole limit. Fewer bits are cheaper."""

    # ----- inputs, rendezvous, preprocessing --------------------------------------------------
    @abstractmethod
    def input_sharing(self, ctx: ProtocolContext) -> InputSharing:
        """A fresh input-sharing exchange for one computation."""

    @abstractmethod
    def material_source(self, party: int, store: Any, dealer: DealerRequest | None) -> MaterialSource:
        """This party's material for real sessions: its store, refilled through ``dealer``."""

    @abstractmethod
    def rendezvous_state(self, material: MaterialSource) -> dict[str, Any]:
        """What this party adds to the rendezvous message (e.g. its material cursors)."""

    @abstractmethod
    def check_rendezvous_state(self, raw: object) -> dict[str, Any]:
        """A peer's rendezvous field, validated; raises ValueError naming what is malformed."""

    @abstractmethod
    def settle_rendezvous(self, material: MaterialSource, states: Mapping[str, dict[str, Any]]) -> None:
        """After every party's state (by party name, this one's included) is known: bring this
        party's material in line (never back); raise PreprocessingError naming a party whose
        state cannot be right."""

    @abstractmethod
    def preprocessing_plan(self, operation: str, count: int, frac_bits: int, **shape: int) -> list[MaterialNeed]:
        """The material ``count`` operations of a kind need: "multiplication", "truncation",
        "comparison", "gram" (with rows= and cols=). Empty for material the parties make online."""

    @abstractmethod
    def stock_summary(self, stock: Mapping[str, int], frac_bits: int) -> dict[str, int]:
        """What stored material (``store.stock()``) is enough for, in operations users know:
        {"fixed-point multiplications": N, "comparisons": M}. Empty without preprocessing."""

    @abstractmethod
    def dealer_logic(self, n_parties: int, state_dir: str) -> DealerLogic | None:
        """The dealer's side (None for a protocol without a dealer)."""

    # ----- session settings (concrete: most protocols have none) ------------------------------
    def check_options(self, n_parties: int, options: Mapping[str, Any]) -> None:
        """Refuse settings this protocol cannot work with (raise ValueError saying what to set)."""
        if options:
            names = ", ".join(sorted(options))
            raise ValueError(f"the {self.name} protocol has no setting {names}; remove it from the session file")

    def describe(self, n_parties: int, options: Mapping[str, Any]) -> str:
        """One line for the status panel: the protocol and its settings."""
        return self.name

    def confirms_release(self, options: Mapping[str, Any]) -> bool:
        """Whether the sites confirm to each other, in one more round, that every check of the
        release passed before any of them shows it (a protocol whose openings detect false
        shares: a site that detected one stops every site)."""
        return False
