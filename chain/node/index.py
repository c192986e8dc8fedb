"""Index tables: blocks, transactions with receipts, logs. Written with each sealed block in the
same SQLite transaction as py-evm's data; read by the RPC layer without touching py-evm."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from eth._utils.address import generate_contract_address
from eth.abc import BlockAPI, ReceiptAPI, SignedTransactionAPI
from eth_utils import to_checksum_address


def hx(value: int) -> str:
    return hex(value)


def hb(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def addr(value: bytes) -> str:
    return to_checksum_address(value)


def render_header(block: BlockAPI) -> dict[str, Any]:
    h = block.header
    out: dict[str, Any] = {
        "number": hx(h.block_number),
        "hash": hb(h.hash),
        "parentHash": hb(h.parent_hash),
        "nonce": hb(h.nonce),
        "mixHash": hb(h.mix_hash),
        "sha3Uncles": hb(h.uncles_hash),
        "logsBloom": hb(h.bloom.to_bytes(256, "big")),
        "transactionsRoot": hb(h.transaction_root),
        "stateRoot": hb(h.state_root),
        "receiptsRoot": hb(h.receipt_root),
        "miner": addr(h.coinbase),
        "difficulty": hx(h.difficulty),
        "totalDifficulty": hx(0),
        "extraData": hb(h.extra_data),
        "size": hx(len(__import__("rlp").encode(block))),
        "gasLimit": hx(h.gas_limit),
        "gasUsed": hx(h.gas_used),
        "timestamp": hx(h.timestamp),
        "uncles": [],
    }
    for field, key in (
        ("base_fee_per_gas", "baseFeePerGas"),
        ("blob_gas_used", "blobGasUsed"),
        ("excess_blob_gas", "excessBlobGas"),
    ):
        if hasattr(h, field):
            out[key] = hx(getattr(h, field))
    for field, key in (
        ("withdrawals_root", "withdrawalsRoot"),
        ("parent_beacon_block_root", "parentBeaconBlockRoot"),
        ("requests_hash", "requestsHash"),
    ):
        if hasattr(h, field):
            out[key] = hb(getattr(h, field))
    if hasattr(h, "withdrawals_root"):
        out["withdrawals"] = []
    return out


def effective_gas_price(tx: SignedTransactionAPI, base_fee: int) -> int:
    if tx.type_id is None or tx.type_id in (0, 1):
        return tx.gas_price
    return min(tx.max_fee_per_gas, base_fee + tx.max_priority_fee_per_gas)


def render_tx(tx: SignedTransactionAPI, block: BlockAPI | None, index: int | None) -> dict[str, Any]:
    type_id = tx.type_id or 0
    out: dict[str, Any] = {
        "hash": hb(tx.hash),
        "type": hx(type_id),
        "nonce": hx(tx.nonce),
        "from": addr(tx.sender),
        "to": addr(tx.to) if tx.to else None,
        "value": hx(tx.value),
        "gas": hx(tx.gas),
        "input": hb(tx.data),
        "blockHash": hb(block.hash) if block is not None else None,
        "blockNumber": hx(block.number) if block is not None else None,
        "transactionIndex": hx(index) if index is not None else None,
        "r": hx(tx.r),
        "s": hx(tx.s),
    }
    if type_id == 0:
        out["v"] = hx(tx.v)
        out["gasPrice"] = hx(tx.gas_price)
        if tx.chain_id is not None:
            out["chainId"] = hx(tx.chain_id)
    else:
        out["chainId"] = hx(tx.chain_id)
        out["v"] = hx(tx.y_parity)
        out["yParity"] = hx(tx.y_parity)
        out["accessList"] = [
            {"address": addr(a), "storageKeys": [hb(k.to_bytes(32, "big")) for k in keys]} for a, keys in tx.access_list
        ]
        if type_id == 1:
            out["gasPrice"] = hx(tx.gas_price)
        else:
            out["maxFeePerGas"] = hx(tx.max_fee_per_gas)
            out["maxPriorityFeePerGas"] = hx(tx.max_priority_fee_per_gas)
            base = getattr(block.header, "base_fee_per_gas", 0) if block is not None else None
            out["gasPrice"] = hx(effective_gas_price(tx, base) if base is not None else tx.max_fee_per_gas)
    return out


def topic_bytes(topic: int) -> bytes:
    return topic.to_bytes(32, "big")


def block_rows(block: BlockAPI, receipts: Iterable[ReceiptAPI]):
    """(block row, tx rows, log rows) for one sealed block."""
    header = render_header(block)
    block_hash = hb(block.hash)
    base_fee = getattr(block.header, "base_fee_per_gas", 0)
    tx_rows, log_rows = [], []
    prev_cumulative = 0
    log_index = 0
    for i, (tx, receipt) in enumerate(zip(block.transactions, receipts, strict=False)):
        tx_json = render_tx(tx, block, i)
        logs = []
        for log in receipt.logs:
            topics = [topic_bytes(t) for t in log.topics]
            entry = {
                "address": addr(log.address),
                "topics": [hb(t) for t in topics],
                "data": hb(log.data),
                "blockNumber": hx(block.number),
                "blockHash": block_hash,
                "transactionHash": tx_json["hash"],
                "transactionIndex": hx(i),
                "logIndex": hx(log_index),
                "removed": False,
            }
            logs.append(entry)
            padded = (topics + [None] * 4)[:4]
            log_rows.append((block.number, log_index, bytes(log.address), *padded, json.dumps(entry)))
            log_index += 1
        gas_used = receipt.gas_used - prev_cumulative
        prev_cumulative = receipt.gas_used
        contract = generate_contract_address(tx.sender, tx.nonce) if not tx.to else None
        rcpt = {
            "transactionHash": tx_json["hash"],
            "transactionIndex": hx(i),
            "blockHash": block_hash,
            "blockNumber": hx(block.number),
            "from": tx_json["from"],
            "to": tx_json["to"],
            "cumulativeGasUsed": hx(receipt.gas_used),
            "gasUsed": hx(gas_used),
            "effectiveGasPrice": hx(effective_gas_price(tx, base_fee)),
            "contractAddress": addr(contract) if contract else None,
            "logs": logs,
            "logsBloom": hb(receipt.bloom.to_bytes(256, "big")),
            "status": hx(1 if receipt.state_root == b"\x01" else 0),
            "type": tx_json["type"],
        }
        tx_rows.append((bytes(tx.hash), block.number, i, json.dumps(tx_json), json.dumps(rcpt)))
    block_row = (block.number, bytes(block.hash), json.dumps(header))
    return block_row, tx_rows, log_rows


def write_block(conn: sqlite3.Connection, block: BlockAPI, receipts: Iterable[ReceiptAPI]) -> None:
    block_row, tx_rows, log_rows = block_rows(block, receipts)
    conn.execute("INSERT OR REPLACE INTO blocks (number, hash, header) VALUES (?, ?, ?)", block_row)
    if tx_rows:
        conn.executemany(
            "INSERT OR REPLACE INTO txs (hash, block, idx, tx, receipt) VALUES (?, ?, ?, ?, ?)",
            tx_rows,
        )
    if log_rows:
        conn.executemany(
            "INSERT OR REPLACE INTO logs (block, log_index, address, t0, t1, t2, t3, log)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            log_rows,
        )
    conn.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('head', ?)", (str(block.number),))


# ---- reads ---------------------------------------------------------------------------------


def head_number(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT max(number) FROM blocks").fetchone()
    return -1 if row is None or row[0] is None else int(row[0])


def get_block(
    conn: sqlite3.Connection, number: int | None = None, block_hash: bytes | None = None, full: bool = False
) -> dict[str, Any] | None:
    if block_hash is not None:
        row = conn.execute("SELECT number, header FROM blocks WHERE hash=?", (block_hash,)).fetchone()
    else:
        row = conn.execute("SELECT number, header FROM blocks WHERE number=?", (number,)).fetchone()
    if row is None:
        return None
    out = json.loads(row[1])
    txs = conn.execute("SELECT tx FROM txs WHERE block=? ORDER BY idx", (row[0],)).fetchall()
    parsed = [json.loads(t[0]) for t in txs]
    out["transactions"] = parsed if full else [t["hash"] for t in parsed]
    return out


def get_tx(conn: sqlite3.Connection, tx_hash: bytes) -> dict[str, Any] | None:
    row = conn.execute("SELECT tx FROM txs WHERE hash=?", (tx_hash,)).fetchone()
    return None if row is None else json.loads(row[0])


def get_receipt(conn: sqlite3.Connection, tx_hash: bytes) -> dict[str, Any] | None:
    row = conn.execute("SELECT receipt FROM txs WHERE hash=?", (tx_hash,)).fetchone()
    return None if row is None else json.loads(row[0])


def get_block_receipts(conn: sqlite3.Connection, number: int) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT receipt FROM txs WHERE block=? ORDER BY idx", (number,)).fetchall()
    return [json.loads(r[0]) for r in rows]


def get_logs(
    conn: sqlite3.Connection,
    from_block: int,
    to_block: int,
    addresses: list[bytes],
    topics: list[list[bytes] | None],
    block_hash: bytes | None = None,
    limit: int = 100_000,
) -> list[dict[str, Any]]:
    """Logs matching the filter, from the index (never by walking blocks)."""
    where, args = [], []
    if block_hash is not None:
        row = conn.execute("SELECT number FROM blocks WHERE hash=?", (block_hash,)).fetchone()
        if row is None:
            return []
        where.append("block = ?")
        args.append(row[0])
    else:
        where.append("block BETWEEN ? AND ?")
        args += [from_block, to_block]
    if addresses:
        where.append(f"address IN ({','.join('?' * len(addresses))})")
        args += addresses
    for i, options in enumerate(topics[:4]):
        if options:
            where.append(f"t{i} IN ({','.join('?' * len(options))})")
            args += options
    sql = f"SELECT log FROM logs WHERE {' AND '.join(where)} ORDER BY block, log_index LIMIT ?"
    rows = conn.execute(sql, (*args, limit + 1)).fetchall()
    if len(rows) > limit:
        raise OverflowError(f"query returned more than {limit} results")
    return [json.loads(r[0]) for r in rows]
