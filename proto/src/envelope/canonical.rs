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
    out.reserve(s.len() + 2);
    out.push('"');
    // Runs of bytes that need no escape are copied whole; every byte that does is ASCII, so
    // the cuts fall on character boundaries.
    let mut run = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            0x0c => "\\f",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..0x20 => "",
            _ => continue,
        };
        out.push_str(&s[run..i]);
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        } else {
            out.push_str(escape);
        }
        run = i + 1;
    }
    out.push_str(&s[run..]);
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
    fn every_control_character_and_runs_around_escapes() {
        let mut all = String::new();
        for c in (0u8..0x20).chain([b'"', b'\\', b'a', 0x7f]) {
            all.push(char::from(c));
            all.push('é');
        }
        let mut out = String::new();
        write_string(&all, &mut out);
        // serde_json reads back exactly the string.
        let back: String = serde_json::from_str(&out).expect("json");
        assert_eq!(back, all);
        assert!(out.starts_with(r#""\u0000é\u0001é"#), "{out}");
        assert!(out.contains(r#"\bé\té\né\u000bé\fé\ré"#), "{out}");
        assert!(out.ends_with("\\\"é\\\\éaé\u{7f}é\""), "{out}");
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
