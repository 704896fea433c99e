//! The canonical form of a ledger entry, which its hash is taken over (docs/audit.md):
//! JSON with no whitespace, object keys sorted by their UTF-8 bytes, strings escaped
//! as JSON requires and nothing more (serde_json's escaping: `"`, `\` and control
//! characters), integers in decimal. Every value tally records is a string, an integer,
//! a boolean, null, an array or an object, so an auditor's script reproduces the bytes
//! with any JSON library that sorts keys and writes compactly (Python:
//! `json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`).

use serde_json::Value;

/// The canonical bytes of a value.
pub fn to_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(key, out);
                out.push(b':');
                write(&map[key], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out);
            }
            out.push(b']');
        }
        Value::String(s) => string(s, out),
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

fn string(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(
        serde_json::to_string(s)
            .expect("a string serialises")
            .as_bytes(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_and_nothing_is_spaced() {
        let v = serde_json::json!({"b": 1, "a": ["x", {"d": null, "c": true}], "é": "q\"\n"});
        assert_eq!(
            String::from_utf8(to_vec(&v)).unwrap(),
            r#"{"a":["x",{"c":true,"d":null}],"b":1,"é":"q\"\n"}"#
        );
    }
}
