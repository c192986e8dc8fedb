"""Write the adversary's garbage evidence bundles in this folder, one file per kind of damage.

    .venv/bin/python tests/chain/testdata/bundles/generate.py

Each starts from an honest, signed business-registration trail (``tests.fixtures.trail``) and
breaks one thing; ``tests/chain/test_audit_garbage.py`` runs ``onevisit audit verify-bundle`` on
each and names the phrase its finding must contain (after transparency-dev/merkle's testdata).
An oversized bundle is made at test time instead (a file over 16 MiB does not belong in git).
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[3]))

from tests.fixtures.trail import build_trail  # noqa: E402


def honest() -> dict:
    return json.loads(build_trail("BR-GARBAGE-0001").bundle.model_dump_json())


def nested(depth: int) -> object:
    value: object = "bottom"
    for _ in range(depth):
        value = {"deeper": value}
    return value


def cases(base: dict) -> dict[str, bytes | dict]:
    out: dict[str, bytes | dict] = {"honest.json": base}  # the control: verifies, exit 0

    def changed(edit) -> dict:
        b = copy.deepcopy(base)
        edit(b)
        return b

    text = json.dumps(base, indent=1).encode()
    out["truncated.json"] = text[: len(text) // 2]
    out["not-json.bin"] = b"\x00\xff\xfeonevisit\x00"
    out["top-level-array.json"] = [base]
    out["other-format.json"] = changed(lambda b: b.update(format="onevisit.evidence.v0"))
    out["registry-not-a-list.json"] = changed(lambda b: b.update(registry={"AgencyRegistered": "market_regulation"}))
    out["registry-wrong-types.json"] = changed(
        lambda b: b.update(
            registry=[
                {
                    "event": "AgencyRegistered",
                    "block_number": "ten",
                    "log_index": None,
                    "agency": 7,
                    "account": [],
                    "signer": {},
                }
            ]
        )
    )
    out["registry-unknown-event.json"] = changed(
        lambda b: b.update(
            registry=[{"event": "AgencyCrowned", "block_number": 3, "log_index": 0, "agency": "0x" + "11" * 32}]
        )
    )
    out["registry-rotation-before-registration.json"] = changed(
        lambda b: b.update(
            registry=[
                {
                    "event": "AccountRotated",
                    "block_number": 3,
                    "log_index": 0,
                    "agency": "0x" + "11" * 32,
                    "new_account": "0x" + "22" * 20,
                }
            ]
        )
    )
    out["flow-not-a-flow.json"] = changed(lambda b: b.update(flow={"hello": "world", "steps": "all of them"}))
    out["flow-steps-wrong-types.json"] = changed(lambda b: b["flow"].update(steps=[{"id": 5, "agency": None}]))
    out["flow-unknown-approval-mode.json"] = changed(lambda b: b["flow"]["steps"][1].update(approval={"mode": "vibes"}))
    out["no-handoffs.json"] = changed(lambda b: b.update(handoffs=[]))
    out["handoffs-not-a-list.json"] = changed(lambda b: b.update(handoffs="see attached"))
    out["deep-nesting.json"] = changed(lambda b: b["handoffs"][0]["handoff"]["record"].update(outputs=nested(200)))
    # int("٣", 16) == 3 and int("３", 16) == 3: Python's hex parsing takes non-ASCII digits
    out["unicode-digits-in-hash.json"] = changed(lambda b: b["handoffs"][0]["handoff"].update(hash="0x" + "３" * 64))
    out["unicode-digits-in-record-case.json"] = changed(
        lambda b: b["handoffs"][1]["handoff"]["record"].update(case="0x" + "٣" * 64)
    )
    out["unicode-digits-in-anchor.json"] = changed(
        lambda b: b["handoffs"][2]["anchor"].update(block_hash="0x" + "٠" * 64)
    )
    out["short-signature.json"] = changed(lambda b: b["handoffs"][0]["handoff"].update(signature="0x1234"))
    out["extra-fields.json"] = changed(lambda b: b.update(operator_note="trust me"))
    out["extra-fields-in-record.json"] = changed(lambda b: b["handoffs"][0]["handoff"]["record"].update(approved=True))
    out["wrong-types-in-chain.json"] = changed(lambda b: b.update(chain={"chain_id": "mainnet", "registry": 1}))
    out["huge-integer-in-outputs.json"] = changed(
        lambda b: b["handoffs"][0]["handoff"]["record"].update(outputs={"n": 10**30})
    )
    text = json.dumps(base).replace('"outputs": {"n": 0}', '"outputs": {"n": NaN}', 1).encode()
    out["nan-in-outputs.json"] = text
    out["lone-surrogate-in-case-id.json"] = json.dumps(base).replace('"BR-GARBAGE-0001"', '"BR-\\ud800"').encode()
    return out


def main() -> None:
    for old in HERE.glob("*.json"):
        old.unlink()
    for name, content in cases(honest()).items():
        data = content if isinstance(content, bytes) else json.dumps(content, indent=1, ensure_ascii=False).encode()
        (HERE / name).write_bytes(data)
    print(f"wrote {len(cases(honest()))} files to {HERE}")


if __name__ == "__main__":
    main()
