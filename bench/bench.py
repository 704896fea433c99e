"""tally against DuckDB on the same synthetic snapshots (see scripts/bench).

Each size is the number of input rows over both snapshots (book + observed), stores x
50,000 SKUs, with a known share of every difference kind, 10% dirty SKUs and unit costs
at 9 decimals, as ERPNext's decimal(21,9) moving-average rates are (values exact, totals
rounded to 4 places). Both engines run the full reconciliation (normalised keys, duplicates and
negatives kept out of the join, full outer join, kinds, value at cost) and write their
discrepancies; tally also writes its corrections, reports and manifest. Both must agree
on the count per kind and on the exact value sum, or the benchmark fails.
"""
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "target" / "bench-data"
TALLY = Path(os.environ.get("TALLY_BIN", ROOT / "target" / "release" / "tally"))
SKUS = 50_000

RULES = """
[normalize]
steps = [{ op = "trim" }, { op = "uppercase" }, { op = "strip_prefix", prefix = "SKU-" }, { op = "strip_leading_zeros" }]

[defaults]
severity = "medium"
resolution = "review"
"""

JOB = """
rules = "rules.toml"
output = "runs"

[sources.erp]
kind = "csv"
path = "book.csv"
[sources.erp.columns]
location = "store_id"
sku = "sku"
qty = "qty"
unit_cost = "unit_cost"

[sources.pos]
kind = "csv"
path = "observed.csv"
[sources.pos.columns]
location = "store_id"
sku = "sku"
qty = "on_hand"
unit_cost = "cost"

[[pairings]]
name = "erp-vs-pos"
book = "erp"
observed = "pos"
"""

# Buckets of hash(i) % 10000 per row: which difference the row carries.
GENERATE = """
SET threads = 2;
SET enable_progress_bar = false;
CREATE TEMP TABLE base AS
SELECT i,
       'ST-' || lpad(((i // {skus}) + 1)::VARCHAR, 5, '0') AS store_id,
       (i % {skus}) + 1 AS num,
       hash(i) % 10000 AS h,
       hash(i * 7 + 3) % 10 = 0 AS dirty,
       (hash(i * 13) % 200)::INTEGER AS qty,
       ((hash(i * 17) % 1000000000000)::DECIMAL(21,9) / 1000000000)::DECIMAL(21,9) AS cost
FROM range({n}) t(i);

COPY (
  SELECT store_id, 'SKU-' || lpad(num::VARCHAR, 10, '0') AS sku,
         CASE WHEN h >= 360 AND h < 370 THEN -1 - qty ELSE qty END AS qty,
         cost AS unit_cost
  FROM base WHERE NOT (h < 50)
) TO '{book}' (HEADER, DELIMITER ',');

COPY (
  SELECT store_id,
         CASE WHEN dirty THEN ' sku-' || num::VARCHAR || ' ' ELSE 'SKU-' || lpad(num::VARCHAR, 10, '0') END AS sku,
         CASE WHEN h >= 100 AND h < 300 THEN qty + 1 + (h % 5) ELSE qty END AS on_hand,
         CASE WHEN h >= 300 AND h < 350 THEN cost + 0.0100 ELSE cost END AS cost
  FROM base, range(CASE WHEN h >= 350 AND h < 360 THEN 2 ELSE 1 END) d(copy)
  WHERE NOT (h >= 50 AND h < 100)
) TO '{observed}' (HEADER, DELIMITER ',');
"""

# The same POS export with a barcode per row (a valid EAN-13 per SKU), as real exports
# carry them: the job reads it as the item's GTIN, which puts the rows through the
# match chain's GTIN checks (chain.rs). No book row has a GTIN, so the lines are the same.
WITH_GTIN = """
SET threads = 2;
SET enable_progress_bar = false;
COPY (
  SELECT * EXCLUDE (body), body || ((10 - list_sum(list_transform(range(1, 13),
                 lambda p: substr(body, p, 1)::INTEGER * CASE WHEN p % 2 = 0 THEN 3 ELSE 1 END)) % 10) % 10)::VARCHAR AS gtin
  FROM (SELECT *, '4' || lpad(regexp_extract(sku, '([0-9]+)', 1), 11, '0') AS body
        FROM read_csv('{observed}', header = true, all_varchar = true))
) TO '{out}' (HEADER, DELIMITER ',');
"""

# What a user would write by hand in DuckDB for the same reconciliation.
RECONCILE = """
SET threads = 2;
SET enable_progress_bar = false;
COPY (
WITH book AS (
  SELECT store_id AS location, sku, ltrim(regexp_replace(upper(trim(sku)), '^SKU-', ''), '0') AS k, qty, unit_cost
  FROM read_csv('{book}', header = true,
       columns = {{'store_id': 'VARCHAR', 'sku': 'VARCHAR', 'qty': 'DECIMAL(18,3)', 'unit_cost': 'DECIMAL(21,9)'}})
), obs AS (
  SELECT store_id AS location, sku, ltrim(regexp_replace(upper(trim(sku)), '^SKU-', ''), '0') AS k, on_hand AS qty, cost AS unit_cost
  FROM read_csv('{observed}', header = true,
       columns = {{'store_id': 'VARCHAR', 'sku': 'VARCHAR', 'on_hand': 'DECIMAL(18,3)', 'cost': 'DECIMAL(21,9)'}})
), b AS (SELECT *, count(*) OVER (PARTITION BY location, k) AS n FROM book),
   o AS (SELECT *, count(*) OVER (PARTITION BY location, k) AS n FROM obs),
-- Negative quantities are findings and are still compared (as tally does).
bc AS (SELECT * FROM b WHERE n = 1),
oc AS (SELECT * FROM o WHERE n = 1),
j AS (
  SELECT coalesce(bc.location, oc.location) AS location, coalesce(bc.k, oc.k) AS item_key,
         bc.qty AS book_qty, oc.qty AS observed_qty, bc.unit_cost AS book_cost, oc.unit_cost AS observed_cost
  FROM bc FULL OUTER JOIN oc ON bc.location = oc.location AND bc.k = oc.k
), lines AS (
  SELECT location, item_key,
         CASE WHEN book_qty IS NULL THEN 'missing_in_book' WHEN observed_qty IS NULL THEN 'missing_in_observed'
              ELSE 'qty_mismatch' END AS kind,
         (coalesce(observed_qty, 0) - coalesce(book_qty, 0)) * coalesce(book_cost, observed_cost) AS value_delta
  FROM j WHERE book_qty IS NULL OR observed_qty IS NULL OR book_qty <> observed_qty
  UNION ALL
  SELECT location, item_key, 'cost_mismatch', (observed_cost - book_cost) * book_qty
  FROM j WHERE book_qty IS NOT NULL AND observed_qty IS NOT NULL AND book_cost <> observed_cost
  UNION ALL
  SELECT location, k, CASE WHEN n > 1 THEN 'duplicate_key' ELSE 'negative_qty' END, NULL FROM b WHERE n > 1 OR qty < 0
  UNION ALL
  SELECT location, k, CASE WHEN n > 1 THEN 'duplicate_key' ELSE 'negative_qty' END, NULL FROM o WHERE n > 1 OR qty < 0
)
SELECT * FROM lines
) TO '{out}' (FORMAT parquet);
"""

# The bare query a DuckDB user would write first: keys cast to integers, one FULL OUTER
# JOIN, the differing rows written out; no duplicate, negative or invalid-row handling
# (so its answer is not checked against tally's: it is the floor, not a peer).
BARE = """
SET threads = 2;
SET enable_progress_bar = false;
COPY (
WITH book AS (
  SELECT store_id AS location, CAST(regexp_replace(upper(trim(sku)), '^SKU-', '') AS BIGINT) AS k, qty, unit_cost
  FROM read_csv('{book}', header = true,
       columns = {{'store_id': 'VARCHAR', 'sku': 'VARCHAR', 'qty': 'DECIMAL(18,3)', 'unit_cost': 'DECIMAL(21,9)'}})
), obs AS (
  SELECT store_id AS location, CAST(regexp_replace(upper(trim(sku)), '^SKU-', '') AS BIGINT) AS k, on_hand AS qty, cost AS unit_cost
  FROM read_csv('{observed}', header = true,
       columns = {{'store_id': 'VARCHAR', 'sku': 'VARCHAR', 'on_hand': 'DECIMAL(18,3)', 'cost': 'DECIMAL(21,9)'}})
)
SELECT coalesce(b.location, o.location) AS location, coalesce(b.k, o.k) AS k,
       b.qty AS book_qty, o.qty AS observed_qty,
       (coalesce(o.qty, 0) - coalesce(b.qty, 0)) * coalesce(b.unit_cost, o.unit_cost) AS value_delta
FROM book b FULL OUTER JOIN obs o ON b.location = o.location AND b.k = o.k
WHERE b.qty IS DISTINCT FROM o.qty OR b.unit_cost IS DISTINCT FROM o.unit_cost
) TO '{out}' (FORMAT parquet);
"""


def parse_size(text):
    text = text.upper()
    mult = {"K": 1_000, "M": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("KM")) * mult)


def measure(cmd, cwd):
    """Runs a command; returns (seconds, peak RSS in MiB, exit code)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        sys.exit(f"{cmd[0]} failed ({code}): {err}")
    return elapsed, usage.ru_maxrss / 1024, code


def generate(size):
    folder = DATA / f"{size}-rates9"
    book, observed = folder / "book.csv", folder / "observed.csv"
    if not (book.exists() and observed.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        per_side = size // 2
        t = time.perf_counter()
        duckdb.connect().execute(GENERATE.format(n=per_side, skus=SKUS, book=book, observed=observed))
        print(f"  generated {size:,} rows in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    (folder / "rules.toml").write_text(RULES)
    (folder / "job.toml").write_text(JOB)
    return folder


def generate_with_gtin(folder):
    """observed-gtin.csv and job-gtin.toml beside the plain files."""
    out = folder / "observed-gtin.csv"
    if not out.exists():
        t = time.perf_counter()
        duckdb.connect().execute(WITH_GTIN.format(observed=folder / "observed.csv", out=out))
        print(f"  added barcodes in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    job = JOB.replace('path = "observed.csv"', 'path = "observed-gtin.csv"').replace(
        'unit_cost = "cost"', 'unit_cost = "cost"\ngtin = "gtin"')
    (folder / "job-gtin.toml").write_text(job)


def tally_lines(folder):
    """The counts per kind and the value sum of the one run in runs/, which is removed."""
    run_dir = next((folder / "runs").iterdir())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    shutil.rmtree(folder / "runs", ignore_errors=True)
    d = manifest["discrepancies"]
    return d["by_kind"], Decimal(d["value_delta_sum"]), d["lines"]


def duckdb_counts(parquet):
    con = duckdb.connect()
    rows = con.execute(f"SELECT kind, count(*), sum(value_delta) FROM '{parquet}' GROUP BY kind").fetchall()
    counts = {k: n for k, n, _ in rows}
    total = sum((v or 0 for _, _, v in rows), Decimal(0))
    # tally's total is the exact sum rounded once to the money scale (half even).
    return counts, total.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)


def main():
    args = sys.argv[1:]
    barcodes = "--barcodes" in args
    args = [a for a in args if a != "--barcodes"]
    sizes = [parse_size(s) for s in (args or ["1M", "20M", "100M"])]
    with_gtin = []
    print(f"tally vs DuckDB {duckdb.__version__} on {os.cpu_count()} cores (baselines: DuckDB, same files, same run; "
          "'duckdb' is the full reconciliation, 'bare' the bare join)")
    print(f"{'rows':>12} {'lines':>10} {'tally s':>9} {'duckdb s':>9} {'time ratio':>10} "
          f"{'bare s':>8} {'bare ratio':>10} "
          f"{'tally MiB':>10} {'duckdb MiB':>10} {'mem ratio':>9} {'bare MiB':>9}")
    for size in sizes:
        folder = generate(size)
        shutil.rmtree(folder / "runs", ignore_errors=True)
        out = folder / "duckdb-lines.parquet"
        sql = RECONCILE.format(book=folder / "book.csv", observed=folder / "observed.csv", out=out)
        script = folder / "reconcile.sql"
        script.write_text(sql)
        py = [sys.executable, "-c", f"import duckdb; duckdb.connect().execute(open({str(script)!r}).read())"]
        bare_out = folder / "duckdb-bare.parquet"
        bare_script = folder / "bare.sql"
        bare_script.write_text(BARE.format(book=folder / "book.csv", observed=folder / "observed.csv", out=bare_out))
        bare = [sys.executable, "-c", f"import duckdb; duckdb.connect().execute(open({str(bare_script)!r}).read())"]
        # DuckDB first, then tally: each reads the files once; the page cache is warm for both.
        b_time, b_mem, _ = measure(bare, folder)
        d_time, d_mem, _ = measure(py, folder)
        t_time, t_mem, _ = measure([str(TALLY), "run", "job.toml"], folder)

        t_counts, t_value, lines = tally_lines(folder)
        d_counts, d_value = duckdb_counts(out)
        if t_counts != d_counts or t_value != d_value:
            sys.exit(f"engines disagree at {size}: tally {t_counts} {t_value} / duckdb {d_counts} {d_value}")
        print(f"{size:>12,} {lines:>10,} {t_time:>9.2f} {d_time:>9.2f} {t_time / d_time:>10.2f} "
              f"{b_time:>8.2f} {t_time / b_time:>10.2f} "
              f"{t_mem:>10.0f} {d_mem:>10.0f} {t_mem / d_mem:>9.2f} {b_mem:>9.0f}", flush=True)
        if barcodes:
            generate_with_gtin(folder)
            g_time, g_mem, _ = measure([str(TALLY), "run", "job-gtin.toml"], folder)
            g_counts, g_value, _ = tally_lines(folder)
            if (g_counts, g_value) != (t_counts, t_value):
                sys.exit(f"barcodes changed the lines at {size}: {g_counts} {g_value} / {t_counts} {t_value}")
            with_gtin.append((size, g_time, t_time, g_mem, t_mem))
    for size, g_time, t_time, g_mem, t_mem in with_gtin:
        if size == with_gtin[0][0]:
            print("tally with a barcode column in the POS export (baseline: tally on the same rows without it, same run)")
            print(f"{'rows':>12} {'gtin s':>9} {'plain s':>9} {'time ratio':>10} {'gtin MiB':>10} {'plain MiB':>10} {'mem ratio':>9}")
        print(f"{size:>12,} {g_time:>9.2f} {t_time:>9.2f} {g_time / t_time:>10.2f} "
              f"{g_mem:>10.0f} {t_mem:>10.0f} {g_mem / t_mem:>9.2f}", flush=True)
    print("counts per kind and exact value sums agree at every size")


if __name__ == "__main__":
    main()
