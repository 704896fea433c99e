#!/usr/bin/env python3
"""Writes sample-data/baseline-2026-11-24/: the baseline the night before, for the
three-way sync in the sample (see sample-data/README.md).

Nothing in the sample moved between the two nights except two items, each changed on
both sides since: a conflict. The Organic Tee L at Cherry Creek (DEN-05, 00030004): both
systems held 12 then; tonight the ERP says 14 (a transfer in) and the store counted 11 (a
sale). The Harbor Rain Jacket L at Back Bay (BOS-01, 00020011), so that the first store's
page has a line in every section: both held 10 then; tonight the ERP says 12 (a transfer
in) and the store counted 4. The baseline is tonight's state as tally stores it, with
those items as they stood.

    python3 -m venv /tmp/gen && /tmp/gen/bin/pip install pyarrow
    cargo build && /tmp/gen/bin/python scripts/make-sample-baseline.py
"""
import json
import os
import subprocess
import sys
import tempfile
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "sample-data", "baseline-2026-11-24")
THEN = {
    ("DEN-05", "00030004", "book"): Decimal("12"),
    ("DEN-05", "00030004", "observed"): Decimal("12"),
    ("BOS-01", "00020011", "book"): Decimal("10"),
    ("BOS-01", "00020011", "observed"): Decimal("10"),
}


def main():
    with tempfile.TemporaryDirectory() as tmp:
        state = os.path.join(tmp, "state")
        run = subprocess.run(
            [os.path.join(ROOT, "target", "debug", "tally"), "run",
             os.path.join(ROOT, "sample-data", "job.toml"), "--out", os.path.join(tmp, "runs"),
             "--state", state],
            capture_output=True, text=True)
        if run.returncode not in (0, 1):
            sys.exit(run.stdout + run.stderr)
        table = pq.read_table(os.path.join(state, "baseline.parquet"))
    rows = table.to_pylist()
    for r in rows:
        key = (r["location"], r["item_key"], r["side"])
        if key in THEN:
            r["qty"] = THEN[key]
    os.makedirs(OUT, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema),
                   os.path.join(OUT, "baseline.parquet"))
    with open(os.path.join(OUT, "baseline.json"), "w") as f:
        json.dump({"run_id": "20261125T040500Z-sample", "written_at": "2026-11-25T04:05:00Z",
                   "rows": len(rows)}, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
