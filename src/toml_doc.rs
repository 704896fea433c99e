//! Reading a TOML file so that every mistake in it is found in one pass.
//!
//! serde stops at the first error, so a file is parsed into a spanned tree first and
//! each part (a source, a pairing, a rule) is deserialised on its own: a typo in one
//! source does not hide a typo in the next. Spans stay absolute, so every error points
//! at its line in the original file.

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::diag::Diagnostics;

pub type Value<'i> = Spanned<DeValue<'i>>;

/// Parses the whole document; syntax errors are recorded and `None` returned.
pub fn parse<'i>(text: &'i str, diags: &mut Diagnostics) -> Option<Spanned<DeTable<'i>>> {
    let (table, errors) = DeTable::parse_recoverable(text);
    if errors.is_empty() {
        return Some(table);
    }
    for err in &errors {
        diags.toml(err, "invalid TOML", None);
    }
    None
}

/// Deserialises one part of the document, recording the error if it does not fit.
pub fn decode<T: DeserializeOwned>(
    value: &Value<'_>,
    diags: &mut Diagnostics,
    context: &str,
) -> Option<T> {
    match T::deserialize(ValueDeserializer::from(value.clone())) {
        Ok(v) => Some(v),
        Err(err) => {
            diags.toml(&err, context, Some(value.span()));
            None
        }
    }
}

/// The entries of a table value, or a diagnostic if the value is not a table.
pub fn entries<'a, 'i>(
    value: &'a Value<'i>,
    diags: &mut Diagnostics,
    what: &str,
) -> Vec<(&'a Spanned<std::borrow::Cow<'i, str>>, &'a Value<'i>)> {
    match value.get_ref().as_table() {
        Some(table) => table.iter().collect(),
        None => {
            diags.at(value.span(), format!("`{what}` must be a table"));
            Vec::new()
        }
    }
}

/// The items of an array (an array of tables `[[x]]` included).
pub fn items<'a, 'i>(
    value: &'a Value<'i>,
    diags: &mut Diagnostics,
    what: &str,
) -> Vec<&'a Value<'i>> {
    match value.get_ref().as_array() {
        Some(array) => array.iter().collect(),
        None => {
            diags.hint(
                value.span(),
                format!("`{what}` must be an array"),
                format!("declare each entry as [[{what}]]"),
            );
            Vec::new()
        }
    }
}
