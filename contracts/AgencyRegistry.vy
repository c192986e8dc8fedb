# pragma version ~=0.4
# pragma evm-version cancun
"""
@title AgencyRegistry
@notice Which account may anchor handoffs for which agency, which key signs an
        agency's handoff records, and which agency owns each flow step.
        Agency ids are keccak256(utf-8 name), e.g. keccak256("market_regulation");
        step ids are keccak256("<flow>/<step>").
        Every change is an event, so an auditor can replay them to know which
        account and signer were valid for an agency at any block.
        A signing key rotates in two phases, without a gap: the new key is
        scheduled to take over from a later block; until then both keys sign
        (records in flight under the old key still anchor), from then on only
        the new one.
@custom:security Only the admin changes the registry, and that rule is checked in
                 one place (_check_admin). An account belongs to at most one
                 agency, so HandoffLedger can derive the agency from msg.sender.
                 Signers are verified off-chain (ecrecover over the record hash).
"""

# ---------------------------------------------------------------------------
#                                   EVENTS
# ---------------------------------------------------------------------------

event AgencyRegistered:
    agency: indexed(bytes32)
    name: String[64]
    account: address
    signer: address

event AccountRotated:
    agency: indexed(bytes32)
    old_account: address
    new_account: address

event SignerRotated:
    agency: indexed(bytes32)
    old_signer: address
    new_signer: address
    effective_block: uint256

event AgencySuspended:
    agency: indexed(bytes32)

event AgencyReinstated:
    agency: indexed(bytes32)

event StepAssigned:
    step: indexed(bytes32)
    agency: indexed(bytes32)

event AdminTransferred:
    old_admin: address
    new_admin: address


# ---------------------------------------------------------------------------
#                                  CONSTANTS
# ---------------------------------------------------------------------------

MAX_NAME_LENGTH: constant(uint256) = 64


# ---------------------------------------------------------------------------
#                                   STORAGE
# ---------------------------------------------------------------------------

struct Agency:
    name: String[MAX_NAME_LENGTH]
    account: address
    signer: address
    next_signer: address  # scheduled to replace signer (empty if none)
    next_signer_from: uint256  # the block from which next_signer alone signs
    active: bool

admin: public(address)

# agency id -> its record; a registered agency always has a non-zero account
_agencies: HashMap[bytes32, Agency]

# account -> the agency it anchors for (empty if none)
_agency_of: HashMap[address, bytes32]

# step id -> the agency that owns it (empty if unassigned)
_owner_of_step: HashMap[bytes32, bytes32]


# ---------------------------------------------------------------------------
#                                 CONSTRUCTOR
# ---------------------------------------------------------------------------

@deploy
def __init__():
    """
    @notice The deployer becomes the admin.
    """
    self.admin = msg.sender
    log AdminTransferred(old_admin=empty(address), new_admin=msg.sender)


# ---------------------------------------------------------------------------
#                                    VIEW
# ---------------------------------------------------------------------------

@view
@external
def agency_of(account: address) -> bytes32:
    """
    @notice The agency this account anchors for (empty if none).
    """
    return self._agency_of[account]


@view
@external
def owner_of_step(step: bytes32) -> bytes32:
    """
    @notice The agency that owns a step (empty if unassigned).
    """
    return self._owner_of_step[step]


@view
@external
def is_active(agency: bytes32) -> bool:
    """
    @notice True if the agency is registered and not suspended.
    """
    return self._agencies[agency].active


@view
@external
def signer_of(agency: bytes32) -> address:
    """
    @notice The address whose key signs the agency's handoff records at this block: a scheduled
            signer from its effective block on (zero if unknown).
    """
    return self._signer_at(agency, block.number)


@view
@external
def signer_schedule(agency: bytes32) -> (address, address, uint256):
    """
    @notice The signer as last set, the signer scheduled to replace it (zero if none) and the
            block from which that one alone signs; between the scheduling and that block both
            sign. Off-chain readers judge any block by these, not only the current one.
    """
    a: Agency = self._agencies[agency]
    return a.signer, a.next_signer, a.next_signer_from


@view
@external
def account_of(agency: bytes32) -> address:
    """
    @notice The account that sends the agency's anchor transactions (zero if unknown).
    """
    return self._agencies[agency].account


@view
@external
def name_of(agency: bytes32) -> String[MAX_NAME_LENGTH]:
    """
    @notice The agency's registered name (empty if unknown).
    """
    return self._agencies[agency].name


# ---------------------------------------------------------------------------
#                                    ADMIN
# ---------------------------------------------------------------------------

@external
def register_agency(agency: bytes32, name: String[MAX_NAME_LENGTH], account: address, signer: address):
    """
    @notice Register an agency, active, with its anchoring account and signer.
    @param agency keccak256 of the utf-8 name
    @param name The agency's name, e.g. "market_regulation"
    @param account The account that will send its anchor transactions
    @param signer The address of the key that signs its handoff records
    """
    self._check_admin()
    assert len(name) > 0, "empty name"
    assert keccak256(name) == agency, "agency id is not keccak256(name)"
    assert not self._is_registered(agency), "agency already registered"
    self._check_free_account(account)
    assert signer != empty(address), "zero signer"

    self._agencies[agency] = Agency(
        name=name, account=account, signer=signer, next_signer=empty(address), next_signer_from=0, active=True
    )
    self._agency_of[account] = agency
    log AgencyRegistered(agency=agency, name=name, account=account, signer=signer)


@external
def rotate_account(agency: bytes32, new_account: address):
    """
    @notice Replace the account that anchors for an agency; the old one is refused from now on.
    """
    self._check_admin()
    self._check_registered(agency)
    self._check_free_account(new_account)

    old_account: address = self._agencies[agency].account
    self._agency_of[old_account] = empty(bytes32)
    self._agency_of[new_account] = agency
    self._agencies[agency].account = new_account
    log AccountRotated(agency=agency, old_account=old_account, new_account=new_account)


@external
def rotate_signer(agency: bytes32, new_signer: address, effective_block: uint256):
    """
    @notice Schedule a new key to sign an agency's handoff records. From this block until
            `effective_block` both the old and the new key sign (what the old one signed
            while in flight still anchors and verifies); from `effective_block` on, only
            the new one. One rotation at a time: a scheduled one must take effect first.
    @param effective_block The first block in which the old key no longer signs; later than now
    """
    self._check_admin()
    self._check_registered(agency)
    assert effective_block > block.number, "effective block not after the current block"
    self._settle_signer(agency)
    assert self._agencies[agency].next_signer == empty(address), "rotation already pending"
    assert new_signer != empty(address), "zero signer"
    old_signer: address = self._agencies[agency].signer
    assert new_signer != old_signer, "signer unchanged"

    self._agencies[agency].next_signer = new_signer
    self._agencies[agency].next_signer_from = effective_block
    log SignerRotated(agency=agency, old_signer=old_signer, new_signer=new_signer, effective_block=effective_block)


@external
def suspend_agency(agency: bytes32):
    """
    @notice Stop an agency from anchoring until it is reinstated.
    """
    self._check_admin()
    self._check_registered(agency)
    assert self._agencies[agency].active, "agency already suspended"

    self._agencies[agency].active = False
    log AgencySuspended(agency=agency)


@external
def reinstate_agency(agency: bytes32):
    """
    @notice Let a suspended agency anchor again.
    """
    self._check_admin()
    self._check_registered(agency)
    assert not self._agencies[agency].active, "agency not suspended"

    self._agencies[agency].active = True
    log AgencyReinstated(agency=agency)


@external
def assign_step(step: bytes32, agency: bytes32):
    """
    @notice Make an agency the owner of a flow step (replacing any previous owner).
    @param step keccak256("<flow>/<step>")
    """
    self._check_admin()
    assert step != empty(bytes32), "empty step"
    self._check_registered(agency)

    self._owner_of_step[step] = agency
    log StepAssigned(step=step, agency=agency)


@external
def transfer_admin(new_admin: address):
    """
    @notice Hand the admin role to another account.
    """
    self._check_admin()
    assert new_admin != empty(address), "zero admin"

    old_admin: address = self.admin
    self.admin = new_admin
    log AdminTransferred(old_admin=old_admin, new_admin=new_admin)


# ---------------------------------------------------------------------------
#                                  INTERNAL
# ---------------------------------------------------------------------------

@internal
def _check_admin():
    assert msg.sender == self.admin, "caller is not admin"


@view
@internal
def _signer_at(agency: bytes32, number: uint256) -> address:
    a: Agency = self._agencies[agency]
    if a.next_signer != empty(address) and number >= a.next_signer_from:
        return a.next_signer
    return a.signer


@internal
def _settle_signer(agency: bytes32):
    """
    @dev A scheduled signer whose block has come becomes the signer, and nothing is scheduled.
    """
    a: Agency = self._agencies[agency]
    if a.next_signer != empty(address) and block.number >= a.next_signer_from:
        self._agencies[agency].signer = a.next_signer
        self._agencies[agency].next_signer = empty(address)
        self._agencies[agency].next_signer_from = 0


@view
@internal
def _is_registered(agency: bytes32) -> bool:
    return self._agencies[agency].account != empty(address)


@view
@internal
def _check_registered(agency: bytes32):
    assert self._is_registered(agency), "unknown agency"


@view
@internal
def _check_free_account(account: address):
    assert account != empty(address), "zero account"
    assert self._agency_of[account] == empty(bytes32), "account already in use"
