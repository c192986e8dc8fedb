# pragma version ~=0.4
# pragma evm-version cancun
"""
@title HandoffLedger
@notice Anchors agencies' signed handoffs: the 32-byte hash of each record, alone or
        as the Merkle root of a batch, with the block it was anchored in. Only hashes
        and salted commitments are stored; never personal data.
@custom:security The sender's agency is looked up in AgencyRegistry (immutable), and
                 the sender must be that agency's current account, the agency must be
                 active, and for a single anchor it must own the step. These checks
                 live in one place (_sender_agency). A hash is anchored at most once.
                 anchor_after adds an order: it anchors only after the handoffs it names.
"""

import AgencyRegistry

# ---------------------------------------------------------------------------
#                                   EVENTS
# ---------------------------------------------------------------------------

event HandoffAnchored:
    handoff: indexed(bytes32)
    agency: indexed(bytes32)
    case_commitment: indexed(bytes32)
    step: bytes32
    account: address

event BatchAnchored:
    root: indexed(bytes32)
    agency: indexed(bytes32)
    count: uint256
    account: address


MAX_AFTER: constant(uint256) = 64  # handoffs one anchor may be made to follow


# ---------------------------------------------------------------------------
#                                   STORAGE
# ---------------------------------------------------------------------------

registry: public(immutable(AgencyRegistry.__interface__))

# handoff hash -> block number it was anchored in (0 if never)
_anchored_at: HashMap[bytes32, uint256]

# batch Merkle root -> block number it was anchored in (0 if never)
_batch_anchored_at: HashMap[bytes32, uint256]


# ---------------------------------------------------------------------------
#                                 CONSTRUCTOR
# ---------------------------------------------------------------------------

@deploy
def __init__(_registry: address):
    """
    @param _registry The AgencyRegistry deployment this ledger trusts, for good.
    """
    assert _registry.is_contract, "registry is not a contract"
    registry = AgencyRegistry.__interface__(_registry)


# ---------------------------------------------------------------------------
#                                  EXTERNAL
# ---------------------------------------------------------------------------

@external
def anchor(handoff: bytes32, step: bytes32, case_commitment: bytes32):
    """
    @notice Anchor one handoff of the sender's agency.
    @param handoff Hash of the handoff record
    @param step keccak256("<flow>/<step>"); the sender's agency must own it
    @param case_commitment Salted commitment to the case reference
    """
    self._anchor(handoff, step, case_commitment)


@external
def anchor_after(handoff: bytes32, step: bytes32, case_commitment: bytes32, after: DynArray[bytes32, MAX_AFTER]):
    """
    @notice Anchor one handoff of the sender's agency only if each of `after` is anchored
            already (in an earlier block, or earlier in this one): a record that names other
            handoffs, such as a case's closing record, can be sent while theirs are pending
            and still never go before them on the ledger.
    @param after Hashes of handoffs anchored singly (not inside a batch) that must precede it
    """
    for h: bytes32 in after:
        assert self._anchored_at[h] != 0, "a handoff it follows is not anchored"
    self._anchor(handoff, step, case_commitment)


@external
def anchor_batch(root: bytes32, count: uint256):
    """
    @notice Anchor the Merkle root over `count` handoffs of the sender's agency; each
            handoff is then proven by an inclusion proof against this root.
    """
    agency: bytes32 = self._sender_agency()
    assert count > 0, "empty batch"
    assert root != empty(bytes32), "empty root"
    assert self._batch_anchored_at[root] == 0, "batch already anchored"

    self._batch_anchored_at[root] = block.number
    log BatchAnchored(root=root, agency=agency, count=count, account=msg.sender)


# ---------------------------------------------------------------------------
#                                    VIEW
# ---------------------------------------------------------------------------

@view
@external
def anchored_at(handoff: bytes32) -> uint256:
    """
    @notice The block number a handoff was anchored in (0 if never).
    """
    return self._anchored_at[handoff]


@view
@external
def batch_anchored_at(root: bytes32) -> uint256:
    """
    @notice The block number a batch root was anchored in (0 if never).
    """
    return self._batch_anchored_at[root]


# ---------------------------------------------------------------------------
#                                  INTERNAL
# ---------------------------------------------------------------------------

@internal
def _anchor(handoff: bytes32, step: bytes32, case_commitment: bytes32):
    agency: bytes32 = self._sender_agency()
    owner: bytes32 = staticcall registry.owner_of_step(step)
    assert owner != empty(bytes32), "step not assigned"
    assert owner == agency, "step owned by another agency"
    assert handoff != empty(bytes32), "empty handoff"
    assert self._anchored_at[handoff] == 0, "handoff already anchored"

    self._anchored_at[handoff] = block.number
    log HandoffAnchored(
        handoff=handoff, agency=agency, case_commitment=case_commitment, step=step, account=msg.sender
    )


@view
@internal
def _sender_agency() -> bytes32:
    agency: bytes32 = staticcall registry.agency_of(msg.sender)
    assert agency != empty(bytes32), "unregistered account"
    assert staticcall registry.is_active(agency), "agency suspended"
    return agency
