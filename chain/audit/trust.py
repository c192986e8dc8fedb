"""The auditor's trust root: what an auditor pins once, after checking it out of band, and then
judges every bundle, gateway and ledger node by (DESIGN.md, "Trust model").

  chain_id, genesis_hash   which chain: a node must answer with both
  registry, ledger         the contracts: every read goes to these addresses, whatever a bundle or
  deployment_block         a gateway names, and one that names others is refused (check ``trust``)
  heads                    the keys that may vouch for a ledger head, and how many must: the
                           agencies' checkpoint keys (embedded stack) or Besu's QBFT validators

``pin`` reads a first version from a node for the auditor to check; ``parse_trust`` reads one back,
strictly (an unknown field, a wrong type or a version it does not know is refused). ``differences``
and ``node_differences`` say, one sentence each, where a claim or a node departs from the root;
``open_ledger`` reads the pinned contracts only on a node that is the pinned chain.

Without a trust root the auditor can only check the operator's evidence against what the operator
claims (``OPERATOR_CLAIMED``); every report says which.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from chain.anchors import Deployment
from chain.errors import ChainError, ChainValueError, LedgerUnavailable

if TYPE_CHECKING:  # only a type here: checking offline never imports the web3 client
    from chain.client import LedgerClient

VERSION = 1
MAX_TRUST_BYTES = 1024 * 1024  # a root is a few hundred bytes; this bounds a hostile file
PINNED = "pinned"
OPERATOR_CLAIMED = "operator-claimed"
TrustBasis = Literal["pinned", "operator-claimed"]

Address = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")]
Hash32 = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$")]
AgencyName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class TrustRootError(ChainValueError):
    """A trust root that cannot be read, parsed or pinned; the message says what is wrong."""


class AgencyCheckpoints(BaseModel):
    """The embedded stack: each agency cosigns the ledger heads it has seen with its signing key;
    a head is vouched for by ``quorum`` distinct agencies of ``signers``."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    kind: Literal["agency-checkpoints"]
    signers: dict[AgencyName, Address] = Field(description="agency -> the address of its checkpoint key")
    quorum: int = Field(description="distinct agencies that must cosign a head (default: a majority)")

    @model_validator(mode="after")
    def _quorum_of_distinct_keys(self) -> AgencyCheckpoints:
        _check_keys(list(self.signers.values()), self.quorum, "heads.signers")
        return self


class QbftValidators(BaseModel):
    """Hyperledger Besu: a head is vouched for by the QBFT committed seals of ``quorum`` distinct
    ``validators`` (``chain.qbft``; the set as pinned: pin again after it changes). An empty list
    (quorum 0) pins no validator yet: no head is vouched for."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    kind: Literal["qbft-validators"]
    validators: list[Address]
    quorum: int = Field(description="distinct validators whose seals a head needs (Besu: ceil(2n/3))")

    @model_validator(mode="after")
    def _quorum_of_distinct_keys(self) -> QbftValidators:
        if not self.validators and self.quorum == 0:
            return self
        _check_keys(self.validators, self.quorum, "heads.validators")
        return self


def _check_keys(keys: list[str], quorum: int, where: str) -> None:
    if not keys:
        raise ValueError(f"{where} is empty: no key could vouch for a ledger head")
    if len({k.lower() for k in keys}) != len(keys):
        raise ValueError(f"{where} names a key twice: one key would count twice towards the quorum")
    if not 1 <= quorum <= len(keys):
        raise ValueError(f"quorum {quorum} must be between 1 and the {len(keys)} keys of {where}")


class TrustRoot(BaseModel):
    """What the auditor pins. Addresses compare case-insensitively."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    version: Literal[1]
    chain_id: int = Field(gt=0)
    genesis_hash: Hash32 = Field(description="hash of block 0: a node of another chain cannot answer it")
    registry: Address
    ledger: Address
    deployment_block: int = Field(ge=0, description="block the registry was deployed in")
    heads: AgencyCheckpoints | QbftValidators = Field(discriminator="kind")
    pinned_at_block: int = Field(ge=0, description="the head whose registry gave the checkpoint keys")

    def deployment(self) -> Deployment:
        return Deployment(
            chain_id=self.chain_id, registry=self.registry, ledger=self.ledger, block=self.deployment_block
        )

    def differences(
        self,
        who: str,
        *,
        chain_id: int | None = None,
        registry: str | None = None,
        ledger: str | None = None,
        block: int | None = None,
    ) -> list[str]:
        """Where ``who`` (a bundle, a gateway) names another chain, contract or deployment block
        than this root pins, one sentence each; a part it does not name (None) is not judged."""
        found = []
        if chain_id is not None and chain_id != self.chain_id:
            found.append(f"{who} names chain {chain_id}; the trust root pins chain {self.chain_id}")
        for name, claim, pinned in (("registry", registry, self.registry), ("ledger", ledger, self.ledger)):
            if claim is not None and claim.lower() != pinned.lower():
                found.append(f"{who} names {name} contract {claim}; the trust root pins {pinned}")
        if block is not None and block != self.deployment_block:
            found.append(
                f"{who} says the contracts were deployed in block {block}; "
                f"the trust root pins block {self.deployment_block}"
            )
        return found


def parse_trust(raw: bytes | str, source: str = "the trust root") -> TrustRoot:
    """A trust root from its JSON; TrustRootError naming ``source`` and every field that is wrong."""
    if len(raw) > MAX_TRUST_BYTES:
        raise TrustRootError(f"{source} is {len(raw)} bytes, more than a trust root's {MAX_TRUST_BYTES}")
    try:
        return TrustRoot.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        errs = exc.errors(include_url=False, include_input=False)
        if any(e["type"] == "json_invalid" for e in errs):
            raise TrustRootError(f"{source} is not JSON: {errs[0]['msg']}") from exc
        lines = [f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in errs[:8]]
        raise TrustRootError(f"{source} is not a trust root: {'; '.join(lines)}") from exc


def load_trust(path: Path) -> TrustRoot:
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_TRUST_BYTES + 1)
    except FileNotFoundError as exc:
        raise TrustRootError(f"{path}: no such trust root") from exc
    except OSError as exc:
        raise TrustRootError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
    return parse_trust(raw, str(path))


def dump_trust(trust: TrustRoot) -> str:
    return json.dumps(trust.model_dump(mode="json"), indent=2) + "\n"


# the node ------------------------------------------------------------------------------------

Rpc = Callable[..., Any]  # (method, *params) -> result, as chain.client.JsonRpc


def genesis_hash(rpc: Rpc) -> str:
    block = rpc("eth_getBlockByNumber", "0x0", False)
    if not isinstance(block, dict) or not isinstance(block.get("hash"), str):
        raise ChainError("the node has no genesis block to show")
    return block["hash"].lower()


def node_differences(trust: TrustRoot, rpc: Rpc, where: str) -> list[str]:
    """Where the node at ``where`` is not the pinned chain: its chain id, then its genesis block."""
    chain_id = int(rpc("eth_chainId"), 16)
    if chain_id != trust.chain_id:
        return [f"the node at {where} is chain {chain_id}; the trust root pins chain {trust.chain_id}"]
    genesis = genesis_hash(rpc)
    if genesis != trust.genesis_hash.lower():
        return [
            f"the node at {where} has genesis block {genesis}; the trust root pins {trust.genesis_hash} "
            f"(same chain id {chain_id}, another chain)"
        ]
    return []


def open_ledger(url: str, trust: TrustRoot) -> tuple[LedgerClient | None, list[str]]:
    """The pinned contracts on the node at ``url``, if that node is the pinned chain; else no
    client and what is wrong with the node. An unreachable node raises LedgerUnavailable."""
    from chain.client import JsonRpc, LedgerClient

    refused = node_differences(trust, JsonRpc(url), url)
    return (None, refused) if refused else (LedgerClient(url, trust.deployment()), [])


# pinning -------------------------------------------------------------------------------------

HeadsKind = Literal["auto", "agency-checkpoints", "qbft-validators"]


def pin(
    url: str,
    registry: str,
    ledger: str,
    block: int | None = None,
    *,
    heads: HeadsKind = "auto",
    quorum: int | None = None,
) -> TrustRoot:
    """A trust root read from the node at ``url`` for the contracts named, after checking what the
    chain itself can tell: both addresses hold code, the ledger is bound to that registry, and the
    registry was deployed in ``block`` (its constructor's AdminTransferred event; read from there
    when ``block`` is None). Heads: the active agencies' signing keys as the registry holds them
    now (``agency-checkpoints``), or Besu's QBFT validators; ``auto`` takes the validators when the
    node answers ``qbft_getValidatorsByBlockNumber``. What it returns is the operator's chain as
    it stands: the auditor checks it out of band before pinning it."""
    from web3 import Web3

    from chain.client import JsonRpc, LedgerClient

    rpc = JsonRpc(url)
    try:
        registry, ledger = Web3.to_checksum_address(registry), Web3.to_checksum_address(ledger)
    except ValueError as exc:
        raise TrustRootError(f"not an address: {exc}") from exc
    chain_id, head = int(rpc("eth_chainId"), 16), int(rpc("eth_blockNumber"), 16)
    for name, address in (("registry", registry), ("ledger", ledger)):
        if rpc("eth_getCode", address, hex(head)) in ("0x", "", None):
            raise TrustRootError(f"the {name} address {address} holds no contract on the node at {url}")
    client = LedgerClient(url, Deployment(chain_id=chain_id, registry=registry, ledger=ledger, block=0))
    try:
        bound = client.handoff_ledger.functions.registry().call(block_identifier=head)
    except Exception as exc:  # web3 raises a dozen kinds for a contract that is not ours
        raise TrustRootError(f"the ledger at {ledger} does not answer as a HandoffLedger: {exc}") from exc
    if bound.lower() != registry.lower():
        raise TrustRootError(f"the ledger at {ledger} is bound to registry {bound}, not {registry}")
    deployed = _deployment_block(client, head)
    if block is not None and block != deployed:
        raise TrustRootError(f"the registry at {registry} was deployed in block {deployed}, not block {block}")
    client = LedgerClient(url, Deployment(chain_id=chain_id, registry=registry, ledger=ledger, block=deployed))
    try:
        return TrustRoot(
            version=VERSION,
            chain_id=chain_id,
            genesis_hash=genesis_hash(rpc),
            registry=registry,
            ledger=ledger,
            deployment_block=deployed,
            heads=_heads(client, rpc, head, heads, quorum),
            pinned_at_block=head,
        )
    except ValidationError as exc:
        raise TrustRootError(f"cannot pin: {exc.errors(include_url=False)[0]['msg']}") from exc


def _deployment_block(client: LedgerClient, head: int) -> int:
    """The block of the registry's constructor: its first AdminTransferred, from the zero address."""
    logs = client.agency_registry.events.AdminTransferred().get_logs(from_block=0, to_block=head)
    created = [log.blockNumber for log in logs if int(log.args.old_admin, 16) == 0]
    if not created:
        raise TrustRootError(f"the registry at {client.deployment.registry} logged no deployment (AdminTransferred)")
    return min(created)


def _heads(
    client: LedgerClient, rpc: Rpc, head: int, kind: HeadsKind, quorum: int | None
) -> AgencyCheckpoints | QbftValidators:
    if kind != "agency-checkpoints":
        try:
            validators = rpc("qbft_getValidatorsByBlockNumber", hex(head))
        except LedgerUnavailable:
            raise
        except ChainError:
            validators = None  # not a QBFT node (the embedded node, anvil)
        if isinstance(validators, list) or kind == "qbft-validators":
            vs = [str(v) for v in validators or []]
            default = -(-2 * len(vs) // 3)  # ceil(2n/3), as Besu's BftHelpers
            return QbftValidators(kind="qbft-validators", validators=vs, quorum=default if quorum is None else quorum)
    signers = _registered_signers(client.registry_events(), head)
    if not signers:
        raise TrustRootError(f"the registry at {client.deployment.registry} has no active agency to vouch for heads")
    majority = len(signers) // 2 + 1
    return AgencyCheckpoints(kind="agency-checkpoints", signers=signers, quorum=majority if quorum is None else quorum)


def _registered_signers(events: list[dict[str, Any]], head: int) -> dict[str, str]:
    """agency name -> its signer, for every agency active at ``head``, by the registry's events."""
    names: dict[str, str] = {}
    state: dict[str, dict[str, Any]] = {}
    for e in events:
        if e["block_number"] > head:
            break
        a = e.get("agency")
        if e["event"] == "AgencyRegistered":
            names[a] = e["name"]
            state[a] = {"signer": e["signer"], "active": True}
        elif e["event"] == "SignerRotated":  # the key in force at the head: a scheduled one once its block came
            state[a]["signer"] = e["new_signer"] if e.get("effective_block", 0) <= head else state[a]["signer"]
        elif e["event"] in ("AgencySuspended", "AgencyReinstated"):
            state[a]["active"] = e["event"] == "AgencyReinstated"
    return {names[a]: s["signer"] for a, s in sorted(state.items(), key=lambda kv: names[kv[0]]) if s["active"]}


__all__ = [
    "OPERATOR_CLAIMED",
    "PINNED",
    "AgencyCheckpoints",
    "QbftValidators",
    "TrustBasis",
    "TrustRoot",
    "TrustRootError",
    "dump_trust",
    "load_trust",
    "node_differences",
    "open_ledger",
    "parse_trust",
    "pin",
]
