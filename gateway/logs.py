"""Logs as one JSON object per line (``ONEVISIT_LOG_FORMAT=json``), carrying the case and workflow
ids where the line has them, so a log store can gather everything that happened to one case.

A line's ``case_id`` comes from ``extra={"case_id": ...}`` (the agency adapter, the gateway), its
``workflow_id``/``run_id`` and ``activity`` from the context temporalio's loggers attach (a case's
workflow id is its case id). Text stays the default for a terminal.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

CONTEXT = ("case_id", "step", "agency", "update")  # what our own log calls pass in ``extra``


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT:
            if getattr(record, key, None) is not None:
                line[key] = getattr(record, key)
        workflow = getattr(record, "temporal_workflow", None) or {}
        act = getattr(record, "temporal_activity", None) or {}
        if workflow or act:
            line["workflow_id"] = workflow.get("workflow_id") or act.get("workflow_id")
            line["run_id"] = workflow.get("run_id") or act.get("workflow_run_id")
            line.setdefault("case_id", line["workflow_id"])  # a case's workflow id is its case id
        if act:
            line["activity"] = act.get("activity_type")
            line["attempt"] = act.get("attempt")
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(log_format: str = "text", level: int = logging.INFO) -> None:
    """The root logger for a OneVisit process: ``json`` lines or plain ``text``."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
