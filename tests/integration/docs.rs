//! The auditors' page (docs/run-directory.md) names every field a run writes: a new manifest
//! field or discrepancy column fails here until it is documented.

use crate::common::*;

fn keys(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                out.push(k.clone());
                // The counts per kind, rule, … are keyed by data, not fields.
                if !k.starts_with("by_") {
                    keys(v, out);
                }
            }
        }
        serde_json::Value::Array(items) => {
            for v in items {
                keys(v, out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_manifest_field_and_line_column_is_documented() {
    let doc =
        std::fs::read_to_string(std::path::Path::new(REPO).join("docs/run-directory.md")).unwrap();
    let ws = Workspace::csv_job(BOOK_CSV, COUNT_CSV);
    let (o, dir) = run_into(
        &ws.path("job.toml"),
        &ws.path("runs"),
        Some(&ws.path("state")),
        &[],
    );
    assert!(o.code == 0 || o.code == 1, "{}", o.stderr);
    let mut fields = Vec::new();
    keys(&manifest(&dir), &mut fields);
    let header = std::fs::read_to_string(dir.join("discrepancies.csv")).unwrap();
    fields.extend(header.lines().next().unwrap().split(',').map(String::from));
    fields.sort();
    fields.dedup();
    let missing: Vec<&String> = fields
        .iter()
        .filter(|f| !doc.contains(&format!("`{f}`")) && !doc.contains(&format!(".{f}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/run-directory.md does not name: {missing:?}"
    );
}
