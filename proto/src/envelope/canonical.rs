//! Canonical JSON: one byte sequence per value, so the same statement always signs to the same
//! bytes (the server's determinism promise) and two implementations can compare payloads.
//!
//! Rules (a subset of RFC 8785, enough for our documents): no insignificant whitespace; object
//! members sorted by the UTF-8 bytes of their names; integers only (a float is an error, as its
//! text is not canonical across implementations); strings escape only `"`, `\` and control
//! characters (`\b \f \n \r \t`, others as `\u00xx`), everything else is raw UTF-8.

use serde::Serialize;
use serde_json::Value;

const HEX: &[u8; 16] = b"0123456789abcdef";

#[derive(Debug, thiserror::Error)]
pub enum CanonicalError {
    #[error("canonical JSON has no floating-point numbers: {0}")]
    Float(String),
    #[error("cannot serialise: {0}")]
    Serialise(#[from] serde_json::Error),
}

/// Serialises a value to canonical JSON.
pub fn to_canonical<T: Serialize>(value: &T) -> Result<String, CanonicalError> {
    let value = serde_json::to_value(value)?;
    let mut out = String::new();
    write_value(&value, &mut out)?;
    Ok(out)
}

fn write_value(value: &Value, out: &mut String) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if n.is_i64() || n.is_u64() {
                out.push_str(&n.to_string());
            } else {
                return Err(CanonicalError::Float(n.to_string()));
            }
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_value(v, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// Appends `s` as a canonical JSON string (quotes included), for writers that lay out a fixed
/// document by hand and must produce exactly what [`to_canonical`] would.
pub fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                out.push_str("\\u00");
                out.push(char::from(HEX[(c as usize) >> 4]));
                out.push(char::from(HEX[(c as usize) & 15]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorted_compact_escaped() {
        let v = json!({"b": [1, -2, true, null], "a": {"z": "x\"y\\\n\u{1}é", "_t": 0}});
        assert_eq!(
            to_canonical(&v).expect("canonical"),
            r#"{"a":{"_t":0,"z":"x\"y\\\n\u0001é"},"b":[1,-2,true,null]}"#
        );
    }

    #[test]
    fn floats_are_refused() {
        assert!(to_canonical(&json!({"x": 1.5})).is_err());
    }

    #[test]
    fn canonical_output_parses_back_to_the_same_value() {
        let v = json!({"k": ["\u{7f}", "\u{1f}", "tab\t"], "n": u64::MAX, "m": i64::MIN});
        let text = to_canonical(&v).expect("canonical");
        let back: Value = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, v);
    }
}
