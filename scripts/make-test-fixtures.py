#!/usr/bin/env python3
"""Writes tests/fixtures/counts.{xlsx,xls,ods}: one small count sheet in three formats,
and tests/fixtures/encrypted.xlsx: a workbook encrypted with the password "secret" as
Excel encrypts one (Agile encryption, in an OLE compound file).

    python3 -m venv /tmp/gen && /tmp/gen/bin/pip install openpyxl xlwt odfpy msoffcrypto-tool
    /tmp/gen/bin/python scripts/make-test-fixtures.py

Sheet "Counts", a title row, then the header on row 2:
SKU (a number: the spreadsheet dropped the leading zeros), Store, Qty, Cost.
"""
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
TITLE = "Store count 2026-11-25"
HEADER = ["SKU", "Store", "Qty", "Cost"]
ROWS = [
    (123, "S1", 10, 2.5),
    ("A-7", "S1", 4.25, 1.1),
    (124, "S1", 0, 3.0),
    (123, "S2", 7, 2.5),
]


def xlsx():
    from openpyxl import Workbook
    wb = Workbook()
    ws = wb.active
    ws.title = "Counts"
    ws.append([TITLE])
    ws.append(HEADER)
    for r in ROWS:
        ws.append(list(r))
    wb.save(os.path.join(OUT, "counts.xlsx"))


def xls():
    import xlwt
    wb = xlwt.Workbook()
    ws = wb.add_sheet("Counts")
    ws.write(0, 0, TITLE)
    for j, h in enumerate(HEADER):
        ws.write(1, j, h)
    for i, r in enumerate(ROWS):
        for j, v in enumerate(r):
            ws.write(i + 2, j, v)
    wb.save(os.path.join(OUT, "counts.xls"))


def ods():
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableRow, TableCell
    from odf.text import P
    doc = OpenDocumentSpreadsheet()
    table = Table(name="Counts")

    def row(values):
        tr = TableRow()
        for v in values:
            if isinstance(v, (int, float)):
                cell = TableCell(valuetype="float", value=v)
            else:
                cell = TableCell(valuetype="string")
            cell.addElement(P(text=str(v)))
            tr.addElement(cell)
        table.addElement(tr)

    row([TITLE])
    row(HEADER)
    for r in ROWS:
        row(r)
    doc.spreadsheet.addElement(table)
    doc.save(os.path.join(OUT, "counts.ods"))


def encrypted():
    import io
    from msoffcrypto.format.ooxml import OOXMLFile
    from openpyxl import Workbook
    wb = Workbook()
    ws = wb.active
    ws.title = "Counts"
    ws.append(["SKU", "Store", "Counted"])
    ws.append(["A1", "S1", 3])
    plain = io.BytesIO()
    wb.save(plain)
    plain.seek(0)
    with open(os.path.join(OUT, "encrypted.xlsx"), "wb") as out:
        OOXMLFile(plain).encrypt("secret", out)


if __name__ == "__main__":
    xlsx()
    xls()
    ods()
    encrypted()
