"""One error family for everything the chain layer raises (after web3.py's exceptions.py)."""


class ChainError(Exception):
    """Root of every error raised by ``chain``."""


class ChainValueError(ChainError, ValueError):
    """An input to the chain layer is malformed (bad hex, wrong length, unknown field)."""


class LedgerUnavailable(ChainError, ConnectionError):
    """The ledger's JSON-RPC endpoint cannot be reached."""


class AnchorRefused(ChainError):
    """The ledger contract refused an anchor (the reason names the rule)."""


class AnchorTimeout(ChainError, TimeoutError):
    """An anchor transaction was sent but no receipt arrived in time."""


class VerificationError(ChainError):
    """A piece of evidence failed one numbered verification step.

    ``check`` names the step that failed (e.g. ``"signature"``) so that callers can report it
    without parsing the message.
    """

    def __init__(self, check: str, message: str, *, handoff: str | None = None):
        super().__init__(f"{check}: {message}")
        self.check = check
        self.message = message
        self.handoff = handoff
