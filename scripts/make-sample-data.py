#!/usr/bin/env python3
"""Writes sample-data/: the Northwind Outfitters scenario (see sample-data/README.md).

The files are committed; this script documents how they were made and remakes them:
    python3 -m venv /tmp/gen && /tmp/gen/bin/pip install openpyxl
    /tmp/gen/bin/python scripts/make-sample-data.py
"""
import csv
import io
import os
import sqlite3
import sys

from openpyxl import Workbook

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sample-data")

ITEMS = {
    "00010001": ("Merino Crew Sock - Charcoal", "Accessories", "Each"),
    "00010002": ("Trail Runner Sock 3-Pack", "Accessories", "Each"),
    "00010017": ("Canvas Tote Bag", "Accessories", "Each"),
    "00020010": ("Harbor Rain Jacket - Navy M", "Outerwear", "Each"),
    "00020011": ("Harbor Rain Jacket - Navy L", "Outerwear", "Each"),
    "00030003": ("Organic Tee - White M", "Tops", "Each"),
    "00030004": ("Organic Tee - White L", "Tops", "Each"),
    "00030110": ("Flannel Shirt - Red Plaid M", "Tops", "Each"),
    "00040001": ("Beeswax Wrap Set", "Home", "Each"),
    "00040002": ("Enamel Camp Mug", "Home", "Each"),
    "00050007": ("Bulk Trail Mix", "Food", "Kg"),
    "00060001": ("Waxed Canvas Cap", "Accessories", "Each"),
}

# ERPNext-style Bin export: (warehouse, item code, actual qty, valuation rate)
ERP = [
    ("Back Bay - NWO", "00010001", 24, 6.25),
    ("Back Bay - NWO", "00010002", 18, 9.10),
    ("Back Bay - NWO", "00020010", 6, 58.40),
    ("Back Bay - NWO", "00020011", 12, 58.40),
    ("Back Bay - NWO", "00030003", 150, 7.35),
    ("Back Bay - NWO", "00030004", 40, 7.35),
    ("Back Bay - NWO", "00040002", 5, 6.05),
    ("SoHo - NWO", "00010017", 40, 4.80),
    ("SoHo - NWO", "00020011", 4, 58.40),
    ("SoHo - NWO", "00030003", 60, 7.35),
    ("SoHo - NWO", "00030110", 9, 19.90),
    ("SoHo - NWO", "00040001", -2, 5.50),  # negative on-hand
    ("Pearl - NWO", "00010001", 30, 6.25),
    ("Pearl - NWO", "00020010", 5, 58.40),
    ("Pearl - NWO", "00040002", 14, 6.05),
    ("Pearl - NWO", "00050007", 12.5, 8.12),  # weighed goods, kg
    ("Ballard - NWO", "00010001", 12, 6.25),
    ("Ballard - NWO", "00020010", 3, 58.40),
    ("Ballard - NWO", "00030004", 20, 7.35),
    ("Ballard - NWO", "00040002", 8, 6.05),
    # Cherry Creek runs Lightspeed: items are known there by Lightspeed's own ids.
    ("Cherry Creek - NWO", "00010001", 26, 6.25),   # counted in cases (case barcode)
    ("Cherry Creek - NWO", "00020010", 4, 58.40),   # matched on its UPC
    ("Cherry Creek - NWO", "00030003", 10, 7.35),   # sold after the count: explained
    ("Cherry Creek - NWO", "00030004", 14, 7.35),   # changed on both sides: a conflict
    ("Cherry Creek - NWO", "00030110", 5, 19.90),   # a sale explains part of it
    ("Cherry Creek - NWO", "00040002", 9, 6.05),    # a mistyped UPC on the shelf label
    ("Cherry Creek - NWO", "00050007", 4.5, 8.12),  # counted in boxes: no conversion
]

# ERPNext's Item Barcode: each item's own barcode (its stock unit), plus pack barcodes.
BARCODES = [
    ("00010001", "00850001000017", "Each"),
    ("00010001", "10850001000014", "Case"),
    ("00020010", "00850001000109", "Each"),
    ("00030004", "00850001000048", "Each"),
    ("00040002", "00850001000208", "Each"),
    ("00050007", "20850001000509", "Box"),
    ("00060001", "00850001000604", "Each"),
]

# ERPNext's UOM Conversion Detail: every item's stock unit (factor 1), and the case.
CONVERSIONS = [(code, ITEMS[code][2], 1) for code in ITEMS] + [("00010001", "Case", 12)]

# ERPNext's Stock Ledger Entry (the server's local time is US Eastern): what moved
# after the stores' counts. Lightspeed's export ran at 18:00 Mountain = 20:00 Eastern;
# the ERP's snapshot is of 23:00 Eastern.
LEDGER = [
    ("Cherry Creek - NWO", "00030003", "2026-11-25", "21:15:00", -2, "Sales Invoice", "SINV-0091"),
    ("Cherry Creek - NWO", "00030110", "2026-11-25", "22:00:00", -1, "Sales Invoice", "SINV-0092"),
    # Before the count: already in both snapshots.
    ("Cherry Creek - NWO", "00020010", "2026-11-25", "19:30:00", 2, "Purchase Receipt", "PREC-0017"),
    # After the ERP's snapshot: in neither.
    ("Cherry Creek - NWO", "00030003", "2026-11-25", "23:30:00", -1, "Sales Invoice", "SINV-0093"),
]

# Lightspeed R-Series at Cherry Creek: (System ID, UPC, item, qty on hand).
LIGHTSPEED = [
    ("210000000001", "10850001000014", "00010001", 2),      # 2 cases of 12
    ("210000000010", "850001000109", "00020010", 3),        # UPC-A of 00850001000109
    ("210000000003", "", "00030003", 12),
    ("210000000004", "", "00030004", 11),
    ("210000000110", "", "00030110", 8),
    ("210000000002", "850001000207", "00040002", 9),        # check digit should be 8
    ("210000000507", "20850001000509", "00050007", 3),      # 3 boxes of trail mix
]
# The merchandising team's map of Lightspeed ids to item codes (a cross-reference).
SYSTEM_IDS = [("210000000003", "00030003"), ("210000000004", "00030004"),
              ("210000000110", "00030110"), ("210000000002", "00040002")]

# Codes typed as text in the ERP sheet; every other code was turned into a number by
# the spreadsheet, losing its leading zeros.
TEXT_CODES = {"00030003", "00030004"}


def erp():
    wb = Workbook()
    ws = wb.active
    ws.title = "Stock Levels"
    ws.append(["Northwind Outfitters - Stock Levels (Bin)"])
    ws.append(["Exported 2026-11-25 23:05 UTC"])
    ws.append(["Item Code", "Item Name", "Item Group", "Warehouse", "Actual Qty", "Stock UOM", "Valuation Rate"])
    for wh, code, qty, rate in ERP:
        name, group, uom = ITEMS[code]
        cell = code if code in TEXT_CODES else int(code)
        ws.append([cell, name, group, wh, qty, uom, rate])
    wb.save(os.path.join(ROOT, "erp", "bin-export.xlsx"))


def erp_db():
    """The ERP as a database: ERPNext's tabBin (on-hand per warehouse) and tabItem."""
    path = os.path.join(ROOT, "erp", "northwind.sqlite")
    if os.path.exists(path):
        os.remove(path)
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE tabItem (name TEXT PRIMARY KEY, item_name TEXT, item_group TEXT, stock_uom TEXT);
        CREATE TABLE tabBin (warehouse TEXT NOT NULL, item_code TEXT NOT NULL,
                             actual_qty NUMERIC(18,3), valuation_rate NUMERIC(18,4),
                             PRIMARY KEY (warehouse, item_code));
        CREATE TABLE "tabItem Barcode" (parent TEXT NOT NULL, barcode TEXT NOT NULL, uom TEXT);
        CREATE TABLE "tabUOM Conversion Detail" (parent TEXT NOT NULL, uom TEXT NOT NULL,
                                                 conversion_factor NUMERIC(18,6));
        CREATE TABLE "tabStock Ledger Entry" (warehouse TEXT, item_code TEXT, posting_date TEXT,
                                              posting_time TEXT, actual_qty NUMERIC(18,3),
                                              voucher_type TEXT, voucher_no TEXT);
        """
    )
    db.executemany('INSERT INTO "tabItem Barcode" VALUES (?, ?, ?)', BARCODES)
    db.executemany('INSERT INTO "tabUOM Conversion Detail" VALUES (?, ?, ?)',
                   [(c, u, str(f)) for c, u, f in CONVERSIONS])
    db.executemany('INSERT INTO "tabStock Ledger Entry" VALUES (?, ?, ?, ?, ?, ?, ?)',
                   [(w, c, d, t, str(q), vt, vn) for w, c, d, t, q, vt, vn in LEDGER])
    db.executemany("INSERT INTO tabItem VALUES (?, ?, ?, ?)",
                   [(code, *ITEMS[code]) for code in ITEMS])
    # Decimals go in as text, so that SQLite keeps them exactly as written.
    db.executemany("INSERT INTO tabBin VALUES (?, ?, ?, ?)",
                   [(wh, code, str(qty), f"{rate:.2f}") for wh, code, qty, rate in ERP])
    db.commit()
    db.execute("VACUUM")
    db.close()


SHOPIFY_HEADER = [
    "Handle", "Title", "Option1 Name", "Option1 Value", "Option2 Name", "Option2 Value",
    "Option3 Name", "Option3 Value", "SKU", "HS Code", "COO", "Location", "Bin name",
    "Incoming (not editable)", "Unavailable (not editable)", "Committed (not editable)",
    "Available (not editable)", "On hand (current)", "On hand (new)",
]


def shopify(file, location, rows):
    with open(os.path.join(ROOT, "shopify", file), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(SHOPIFY_HEADER)
        for sku, title, on_hand, committed in rows:
            handle = title.lower().replace(" - ", "-").replace(" ", "-")
            available = on_hand if not isinstance(on_hand, int) else on_hand - committed
            w.writerow([handle, title, "Title", "Default Title", "", "", "", "", sku, "", "", location, "",
                        0, 0, committed, available, on_hand, ""])


def square():
    header = ["Token", "Item Name", "Variation Name", "SKU", "Description", "Category", "GTIN", "Price",
              "Default Unit Cost", "Default Vendor Code", "Current Quantity Pearl", "Current Quantity Ballard",
              "New Quantity Pearl", "New Quantity Ballard"]
    rows = [
        ("00010001", "00850001000017", "14.00", "6.2500", "30", "12"),
        ("00020010", "00850001000109", "129.00", "61.0000", "5", "3"),
        ("00040002", "00850001000208", "16.00", "6.0550", "14", "8"),
        ("00050007", "", "18.00", "8.1200", "12.25", "0"),
        ("00030004", "00850001000048", "28.00", "7.3500", "0", "35"),
        ("00060001", "00850001000604", "32.00", "12.0000", "0", "6"),
    ]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    for i, (sku, gtin, price, cost, pearl, ballard) in enumerate(rows):
        name, cat, _ = ITEMS[sku]
        w.writerow([f"SQ{i:04d}XK", name, "Regular", sku, "", cat, gtin, price, cost, f"V-{sku[-4:]}",
                    pearl, ballard, "", ""])
    # Square writes a UTF-8 byte-order mark.
    with open(os.path.join(ROOT, "square", "item-library.csv"), "w", newline="", encoding="utf-8-sig") as f:
        f.write(buf.getvalue())


def lightspeed():
    header = ["System ID", "UPC", "EAN", "Custom SKU", "Manufact. SKU", "Description", "Category",
              "Cherry Creek - Quantity on Hand", "Cherry Creek - Unit Cost"]
    os.makedirs(os.path.join(ROOT, "lightspeed"), exist_ok=True)
    with open(os.path.join(ROOT, "lightspeed", "cherry-creek.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        for system_id, upc, code, qty in LIGHTSPEED:
            name, cat, _ = ITEMS[code]
            w.writerow([system_id, upc, "", "", "", name, cat, qty, ""])
    with open(os.path.join(ROOT, "lightspeed", "system-ids.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["System ID", "Item Code"])
        w.writerows(SYSTEM_IDS)


def main():
    erp()
    erp_db()
    shopify("back-bay.csv", "Back Bay", [
        (" nw-00010001", ITEMS["00010001"][0], 24, 2),
        ("NW-00010002", ITEMS["00010002"][0], 17, 0),
        ("NW-00020010", ITEMS["00020010"][0], 3, 1),
        ("NW-00020011", ITEMS["00020011"][0], 4, 0),
        ("NW-00030003", ITEMS["00030003"][0], 148, 5),
        ("NW-00030004", ITEMS["00030004"][0], 38, 0),   # the same variant exported twice
        ("NW-00030004", ITEMS["00030004"][0], 40, 0),
        ("NW-00040002", ITEMS["00040002"][0], "Not stocked", 0),
        ("NW-00099001", "Gift Card Sleeve", 15, 0),      # sold in store, unknown to the ERP
    ])
    shopify("soho.csv", "SoHo", [
        ("NW-00010017 ", ITEMS["00010017"][0], 40, 0),
        ("NW-00030003", ITEMS["00030003"][0], 60, 3),
        ("nw-00030110", ITEMS["00030110"][0], 11, 0),
        ("NW-00040001", ITEMS["00040001"][0], "Not stocked", 0),
        ("", "Custom Hem Alteration", 1, 0),             # no SKU: an invalid row
    ])
    square()
    lightspeed()


if __name__ == "__main__":
    sys.exit(main())
