//! Presets: the layout of an export a known system writes, so that a job names the
//! preset, a path and (for single-store files) a location, and reads it as it is.
//!
//! A preset gives defaults for a source's keys; every key the job gives wins. Its columns
//! may list the other headers the same field has had (older layouts, translations): a
//! file is read with the first one it has. Columns marked optional are read when the file
//! has them. Adding a preset is one entry in `PRESETS` (and a row in docs/presets.md).

use super::raw::CorrectionFormat;
use crate::columns::Field;

/// A column of a preset: the headers it is known by, first choice first.
pub struct PresetColumn {
    pub field: Field,
    pub headers: &'static [&'static str],
    /// The file may lack it (then the field is not read).
    pub optional: bool,
}

const fn req(field: Field, headers: &'static [&'static str]) -> PresetColumn {
    PresetColumn {
        field,
        headers,
        optional: false,
    }
}

const fn opt(field: Field, headers: &'static [&'static str]) -> PresetColumn {
    PresetColumn {
        field,
        headers,
        optional: true,
    }
}

pub struct Preset {
    pub name: &'static str,
    /// The system and export, as its users call it.
    pub system: &'static str,
    pub columns: &'static [PresetColumn],
    /// Cell texts the system writes instead of a quantity, meaning "not stocked here".
    pub absent: &'static [&'static str],
    /// A wide export: the quantity (and cost) header patterns with `{location}`, and the
    /// headers that fit the pattern but are not locations.
    pub unpivot: Option<(&'static str, Option<&'static str>)>,
    pub unpivot_exclude: &'static [&'static str],
    /// Rows the system writes for other purposes: skipped when every cell matches.
    pub skip_when: &'static [(&'static str, &'static str)],
    /// What a blank quantity means in this export (None: tally's default).
    pub blank_absent: bool,
    /// A title block before the header: the header is the row whose first cell is
    /// `.0`, and the data starts after the row whose first cell is `.1`.
    pub header_marker: Option<(&'static str, &'static str)>,
    /// The SKU inside a display name (Odoo's `[CODE] Name`): group 1 of this pattern.
    pub sku_pattern: Option<&'static str>,
    /// The system takes its own correction import (ERPNext's Stock Reconciliation).
    /// The correction import a source of this kind gets beside the generic CSV.
    pub corrections: CorrectionFormat,
    /// Headers that tell the export apart, for `tally check`'s "looks like".
    pub signature: &'static [&'static str],
}

const SHOPIFY_IDENTITY: [&str; 12] = [
    "Handle",
    "Title",
    "Option1 Name",
    "Option1 Value",
    "Option2 Name",
    "Option2 Value",
    "Option3 Name",
    "Option3 Value",
    "SKU",
    "HS Code",
    "COO",
    "Bin name",
];

/// What a preset leaves at tally's defaults (each entry gives the rest).
const BASE: Preset = Preset {
    name: "",
    system: "",
    columns: &[],
    absent: &[],
    unpivot: None,
    unpivot_exclude: &[],
    skip_when: &[],
    blank_absent: false,
    header_marker: None,
    sku_pattern: None,
    corrections: CorrectionFormat::Generic,
    signature: &[],
};

pub const PRESETS: &[Preset] = &[
    Preset {
        name: "shopify-inventory",
        system: "Shopify inventory CSV (Products > Inventory > Export), one row per variant and location: \
                 the current layout (On hand (current), On hand (new)) and the older one (Incoming, \
                 Unavailable, Committed, Available, On hand)",
        columns: &[
            req(Field::Sku, &["SKU"]),
            req(Field::Location, &["Location"]),
            req(Field::Qty, &["On hand (current)", "On hand"]),
            opt(Field::Description, &["Title"]),
            opt(Field::Bin, &["Bin name"]),
        ],
        absent: &["Not stocked"],
        corrections: CorrectionFormat::Shopify,
        signature: &["Handle", "SKU", "Location"],
        ..BASE
    },
    Preset {
        name: "shopify-inventory-by-location",
        system: "Shopify inventory CSV, oldest layout (\"Only Available quantities\"): one column per \
                 location, headed by the location's name",
        columns: &[
            req(Field::Sku, &["SKU"]),
            opt(Field::Description, &["Title"]),
        ],
        absent: &["Not stocked"],
        unpivot: Some(("{location}", None)),
        unpivot_exclude: &SHOPIFY_IDENTITY,
        signature: &["Handle", "Option1 Name", "SKU", "HS Code"],
        ..BASE
    },
    Preset {
        name: "shopify-products",
        system: "Shopify product CSV (Products > Export): Variant SKU, Variant Inventory Qty, Variant \
                 Barcode; image-only continuation rows are skipped. One location: set `location`",
        columns: &[
            req(Field::Sku, &["Variant SKU"]),
            req(Field::Qty, &["Variant Inventory Qty"]),
            opt(Field::Gtin, &["Variant Barcode"]),
            opt(Field::Description, &["Title"]),
            opt(Field::UnitCost, &["Cost per item"]),
        ],
        skip_when: &[("Variant SKU", ""), ("Variant Inventory Qty", "")],
        signature: &["Handle", "Variant SKU", "Variant Inventory Qty"],
        ..BASE
    },
    Preset {
        name: "square-items",
        system: "Square item library export (Items > Export library): Current Quantity <Location> per \
                 location; a blank cell means the item is not tracked there",
        columns: &[
            req(Field::Sku, &["SKU"]),
            opt(Field::Description, &["Item Name"]),
            opt(
                Field::Category,
                &["Categories", "Category", "Reporting Category"],
            ),
            opt(Field::Gtin, &["GTIN"]),
        ],
        unpivot: Some(("Current Quantity {location}", None)),
        blank_absent: true,
        corrections: CorrectionFormat::Square,
        signature: &["Token", "Item Name", "Variation Name", "SKU"],
        ..BASE
    },
    Preset {
        name: "lightspeed-x",
        system: "Lightspeed Retail X-Series (Vend) product export: inventory_<Outlet> per outlet, \
                 supply_price as the cost",
        columns: &[
            req(Field::Sku, &["sku"]),
            opt(Field::Description, &["name"]),
            opt(Field::UnitCost, &["supply_price"]),
        ],
        unpivot: Some(("inventory_{location}", None)),
        blank_absent: true,
        signature: &["handle", "sku", "supply_price"],
        ..BASE
    },
    Preset {
        name: "lightspeed-r",
        system: "Lightspeed Retail R-Series item export: System ID, UPC, <Shop> - Quantity on Hand and \
                 <Shop> - Unit Cost per shop",
        columns: &[
            req(Field::Sku, &["System ID"]),
            opt(Field::Gtin, &["UPC"]),
            opt(Field::Description, &["Description"]),
        ],
        unpivot: Some((
            "{location} - Quantity on Hand",
            Some("{location} - Unit Cost"),
        )),
        blank_absent: true,
        signature: &["System ID", "Custom SKU", "Manufact. SKU"],
        ..BASE
    },
    Preset {
        name: "tally-recount",
        system: "tally's own recount sheet (recount/<location>.xlsx of a run directory), filled in \
                 on the shop floor: location, item key and the count; an item left blank was not \
                 counted",
        columns: &[
            req(Field::Location, &["location"]),
            req(Field::Sku, &["item_key"]),
            req(Field::Qty, &["counted"]),
            opt(Field::Description, &["description"]),
            opt(Field::Category, &["category"]),
            opt(Field::Bin, &["bin"]),
            opt(Field::Gtin, &["gtin"]),
            opt(Field::RecountOf, &["recount_of"]),
        ],
        blank_absent: true,
        signature: &["location", "item_key", "counted"],
        ..BASE
    },
    Preset {
        name: "erpnext-bin",
        system: "ERPNext Bin (tabBin: item_code, warehouse, actual_qty, valuation_rate), as a table, \
                 its CSV or its report export (Item Code, Warehouse, Actual Qty, Valuation Rate)",
        columns: &[
            req(Field::Sku, &["item_code", "Item Code"]),
            req(Field::Location, &["warehouse", "Warehouse"]),
            req(Field::Qty, &["actual_qty", "Actual Qty"]),
            opt(Field::UnitCost, &["valuation_rate", "Valuation Rate"]),
        ],
        corrections: CorrectionFormat::Erpnext,
        signature: &["item_code", "warehouse", "actual_qty"],
        ..BASE
    },
    Preset {
        name: "erpnext-stock-reconciliation",
        system: "ERPNext Stock Reconciliation download: the import template with its title block \
                 (the field names on the \"Column Name:\" row, data after \"Start entering data below \
                 this line\"), or the newer one-row template (Item Code (Items), Warehouse (Items), ...)",
        columns: &[
            req(Field::Sku, &["item_code", "Item Code (Items)", "Item Code"]),
            req(
                Field::Location,
                &["warehouse", "Warehouse (Items)", "Warehouse"],
            ),
            req(Field::Qty, &["qty", "Quantity (Items)", "Quantity"]),
            opt(
                Field::UnitCost,
                &["valuation_rate", "Valuation Rate (Items)", "Valuation Rate"],
            ),
        ],
        header_marker: Some(("Column Name:", "Start entering data below this line")),
        corrections: CorrectionFormat::Erpnext,
        signature: &["Column Name:", "item_code", "warehouse", "qty"],
        ..BASE
    },
    Preset {
        name: "odoo-quants",
        system: "Odoo on-hand export (Inventory > Reporting > Stock, stock.quant): Location, Product \
                 (\"[CODE] Name\"), On Hand Quantity; or the import-compatible field names",
        columns: &[
            req(Field::Location, &["Location", "location_id"]),
            req(Field::Sku, &["Product", "product_id"]),
            req(Field::Qty, &["On Hand Quantity", "Quantity", "quantity"]),
            opt(Field::Uom, &["Unit of Measure", "product_uom_id"]),
        ],
        sku_pattern: Some(r"^\s*\[([^\]]+)\]"),
        signature: &["Location", "Product", "On Hand Quantity"],
        ..BASE
    },
    Preset {
        name: "odoo-inventory-import",
        system: "Odoo physical inventory import (stock.quant: Location, Product, Counted Quantity; or \
                 location_id, product_id, inventory_quantity)",
        columns: &[
            req(Field::Location, &["Location", "location_id"]),
            req(Field::Sku, &["Product", "product_id"]),
            req(Field::Qty, &["Counted Quantity", "inventory_quantity"]),
        ],
        sku_pattern: Some(r"^\s*\[([^\]]+)\]"),
        signature: &["Location", "Product", "Counted Quantity"],
        ..BASE
    },
    Preset {
        name: "woocommerce-products",
        system: "WooCommerce product CSV (Products > Export), with English or translated headers \
                 (German, French, Spanish, Dutch, Italian); a blank Stock is a product whose stock is \
                 not managed (no row); variable parents are skipped. One location: set `location`",
        columns: &[
            req(
                Field::Sku,
                &[
                    "SKU",
                    "Artikelnummer",
                    "UGS",
                    "Referencia",
                    "Artikelnummer (SKU)",
                    "COD",
                ],
            ),
            req(
                Field::Qty,
                &[
                    "Stock",
                    "Bestand",
                    "Inventario",
                    "Voorraad",
                    "Scorte",
                    "Magazzino",
                ],
            ),
            opt(
                Field::Description,
                &["Name", "Nom", "Nombre", "Naam", "Nome"],
            ),
            opt(
                Field::Gtin,
                &["GTIN, UPC, EAN, or ISBN", "GTIN, UPC, EAN oder ISBN"],
            ),
        ],
        skip_when: &[("Type", "variable")],
        blank_absent: true,
        signature: &["ID", "Type", "Published"],
        ..BASE
    },
];

pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name.trim())
}

/// The preset whose headers a file's header has (most signature headers, all of them),
/// for a job that names none.
pub fn looks_like(headers: &[String]) -> Option<&'static Preset> {
    PRESETS
        .iter()
        .filter(|p| {
            p.signature
                .iter()
                .all(|s| headers.iter().any(|h| h.trim() == *s))
                && p.columns.iter().filter(|c| !c.optional).all(|c| {
                    c.headers
                        .iter()
                        .any(|x| headers.iter().any(|h| h.trim() == *x))
                })
        })
        // The preset that explains most of the header: its signature and required columns.
        .max_by_key(|p| p.signature.len() + p.columns.iter().filter(|c| !c.optional).count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_headers_given() {
        let mut names = std::collections::BTreeSet::new();
        for p in PRESETS {
            assert!(names.insert(p.name), "{}", p.name);
            assert!(
                p.columns.iter().all(|c| !c.headers.is_empty()),
                "{}",
                p.name
            );
            assert!(!p.signature.is_empty(), "{}", p.name);
            // What job/source.rs takes for granted of a preset.
            if let Some((qty, cost)) = p.unpivot {
                assert!(qty.contains("{location}"), "{}", p.name);
                assert!(cost.is_none_or(|c| c.contains("{location}")), "{}", p.name);
            }
            if let Some(re) = p.sku_pattern {
                assert!(
                    regex::Regex::new(re).unwrap().captures_len() >= 2,
                    "{}",
                    p.name
                );
            }
        }
    }

    #[test]
    fn a_shopify_header_is_recognised() {
        let h: Vec<String> = "Handle,Title,Option1 Name,Option1 Value,Option2 Name,Option2 Value,Option3 Name,Option3 Value,SKU,HS Code,COO,Location,Bin name,Incoming (not editable),Unavailable (not editable),Committed (not editable),Available (not editable),On hand (current),On hand (new)"
            .split(',')
            .map(String::from)
            .collect();
        assert_eq!(looks_like(&h).map(|p| p.name), Some("shopify-inventory"));
    }
}
