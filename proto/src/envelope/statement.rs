//! The in-toto Statement v1 a verdict is, and its predicate.
//!
//! ```text
//! {"_type": "https://in-toto.io/Statement/v1",
//!  "subject": [{"name": "FILE#SECTION/FUNCTION", "digest": {"sha256": program digest}},
//!              {"name": "FILE#SECTION/FUNCTION@x86_64-sysv", "digest": {"sha256": image}}],
//!  "predicateType": "https://example.invalid/vouch/verdict/v1",
//!  "predicate": {"verdict": "accepted" | "rejected", "program": {...}, "errors": [...],
//!                "verifier": {"name", "version"}, "options": {...}, "maps": [...],
//!                "helpers": [ids], "kfuncs": [...], "image": {"target"} (only with an image),
//!                "issuedAt": RFC 3339, "expiresAt": RFC 3339}}
//! ```
//!
//! The image subject exists exactly when the predicate has `image`; its name is the program's
//! plus `@TARGET`, so a reader finds both without relying on order. Everything a host must
//! check before running code (verdict, expiry, target, maps, helpers) is in the signed payload.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://example.invalid/vouch/verdict/v1";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub statement_type: String,
    pub subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: VerdictPredicate,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub name: String,
    /// Algorithm → lower-case hex; we write `sha256`.
    pub digest: BTreeMap<String, String>,
}

impl Subject {
    pub fn sha256(name: String, hex: String) -> Subject {
        Subject {
            name,
            digest: BTreeMap::from([("sha256".to_owned(), hex)]),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerdictPredicate {
    /// `accepted` or `rejected`.
    pub verdict: String,
    pub program: ProgramInfo,
    /// Root cause first.
    pub errors: Vec<ErrorInfo>,
    /// Alarms of the analysis that Z3 proved false (option `z3`), with the hash of each
    /// unsatisfiable query; absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discharged: Vec<DischargedInfo>,
    pub verifier: VerifierInfo,
    pub options: OptionsInfo,
    /// The maps the program binds, by the index its `lddw` instructions carry.
    pub maps: Vec<MapBinding>,
    /// Linux helper ids the program calls, sorted.
    pub helpers: Vec<i64>,
    pub kfuncs: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageInfo>,
    pub issued_at: String,
    pub expires_at: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgramInfo {
    pub file: String,
    pub section: String,
    pub function: String,
    pub program_type: String,
    pub instructions: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorInfo {
    pub pc: u64,
    pub kind: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceInfo>,
}

/// An alarm proved false by Z3.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DischargedInfo {
    pub pc: u64,
    pub kind: String,
    pub message: String,
    /// sha256 of the SMT-LIB query found unsatisfiable.
    pub query_sha256: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    pub file: String,
    pub line: u32,
    pub column: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifierInfo {
    pub name: String,
    pub version: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OptionsInfo {
    /// `zone` or `interval`.
    pub domain: String,
    pub strict_div: bool,
    pub allow_ptr_leaks: bool,
    /// `sha256:<hex>` of the kernel BTF the program was relocated and typed against; absent
    /// when none was given (and then absent from the JSON, so statements without one read as
    /// before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_btf: Option<String>,
    /// Alarms were refined with Z3 (option `z3`); absent when not, so other statements read
    /// as before.
    #[serde(default, skip_serializing_if = "is_false")]
    pub z3: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MapBinding {
    /// The index `lddw` carries (`src=1, imm=index`) in the verified instructions.
    pub index: u32,
    pub name: String,
    /// `BPF_MAP_TYPE_*` number.
    #[serde(rename = "type")]
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
    /// Initial contents (lower-case hex) of a global-data map (`.data`, `.rodata`, `.bss`,
    /// `.kconfig`). Signed because the verdict may depend on them (frozen `.rodata` loads are
    /// constants to the verifier) and because the thin driver has no ELF to read them from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial: Option<String>,
    /// `.rodata`: the verifier treated the contents as constants, so the host must create the
    /// map read-only with exactly `initial`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub frozen: bool,
    /// The inner map template of a map of maps (what inner maps must look like).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner: Option<Box<MapTemplate>>,
}

/// Largest initial contents a statement may carry for one map: the thin driver allocates it.
pub const MAX_INITIAL_BYTES: usize = 16 << 20;

impl MapBinding {
    /// The decoded initial contents; `Err` for hex that is malformed or over
    /// [`MAX_INITIAL_BYTES`].
    pub fn initial_bytes(&self) -> Result<Option<Vec<u8>>, String> {
        let Some(hex) = &self.initial else {
            return Ok(None);
        };
        if hex.len() % 2 != 0 || hex.len() / 2 > MAX_INITIAL_BYTES {
            return Err(format!(
                "map {}: initial contents are not hex of at most {MAX_INITIAL_BYTES} bytes",
                self.name
            ));
        }
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        hex.as_bytes()
            .chunks(2)
            .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
            .collect::<Option<Vec<u8>>>()
            .map(Some)
            .ok_or_else(|| format!("map {}: initial contents are not lower-case hex", self.name))
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What the inner maps of a map of maps must look like.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MapTemplate {
    pub name: String,
    #[serde(rename = "type")]
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// JIT target, e.g. `x86_64-sysv`.
    pub target: String,
}

impl Statement {
    /// `FILE#SECTION/FUNCTION`: the program subject's name.
    pub fn program_name(file: &str, section: &str, function: &str) -> String {
        format!("{file}#{section}/{function}")
    }

    /// `FILE#SECTION/FUNCTION@TARGET`: the image subject's name.
    pub fn image_name(program_name: &str, target: &str) -> String {
        format!("{program_name}@{target}")
    }

    /// A verdict statement: subjects from the program digest and, when there is an image, its
    /// digest and target (which the predicate must name too).
    pub fn new(
        program_digest_hex: String,
        image: Option<(String, &str)>,
        mut predicate: VerdictPredicate,
    ) -> Statement {
        let name = Statement::program_name(
            &predicate.program.file,
            &predicate.program.section,
            &predicate.program.function,
        );
        let mut subject = vec![Subject::sha256(name.clone(), program_digest_hex)];
        predicate.image = None;
        if let Some((hex, target)) = image {
            subject.push(Subject::sha256(Statement::image_name(&name, target), hex));
            predicate.image = Some(ImageInfo {
                target: target.to_owned(),
            });
        }
        Statement {
            statement_type: STATEMENT_TYPE.to_owned(),
            subject,
            predicate_type: PREDICATE_TYPE.to_owned(),
            predicate,
        }
    }

    /// The canonical JSON bytes that get signed.
    pub fn to_payload(&self) -> Vec<u8> {
        // Integers, strings, booleans only: canonicalisation cannot fail.
        super::canonical::to_canonical(self)
            .unwrap_or_default()
            .into_bytes()
    }

    pub fn from_payload(bytes: &[u8]) -> Result<Statement, String> {
        let s: Statement = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if s.statement_type != STATEMENT_TYPE {
            return Err(format!("statement type is `{}`", s.statement_type));
        }
        if s.predicate_type != PREDICATE_TYPE {
            return Err(format!(
                "predicate type is `{}`, not a Vouch verdict",
                s.predicate_type
            ));
        }
        Ok(s)
    }

    pub fn name(&self) -> String {
        let p = &self.predicate.program;
        Statement::program_name(&p.file, &p.section, &p.function)
    }

    /// sha256 of the program subject.
    pub fn program_digest(&self) -> Option<&str> {
        let name = self.name();
        self.subject
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.digest.get("sha256"))
            .map(String::as_str)
    }

    /// sha256 of the image subject for the predicate's target.
    pub fn image_digest(&self) -> Option<&str> {
        let target = &self.predicate.image.as_ref()?.target;
        let name = Statement::image_name(&self.name(), target);
        self.subject
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.digest.get("sha256"))
            .map(String::as_str)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample_predicate(verdict: &str) -> VerdictPredicate {
        VerdictPredicate {
            verdict: verdict.to_owned(),
            program: ProgramInfo {
                file: "xdp_pass.bpf.o".into(),
                section: "xdp".into(),
                function: "xdp_pass".into(),
                program_type: "xdp".into(),
                instructions: 2,
            },
            errors: vec![],
            discharged: vec![],
            verifier: VerifierInfo {
                name: "vouch".into(),
                version: "0.1.0".into(),
            },
            options: OptionsInfo {
                domain: "zone".into(),
                strict_div: false,
                allow_ptr_leaks: false,
                kernel_btf: None,
                z3: false,
            },
            maps: vec![MapBinding {
                index: 0,
                name: "counters".into(),
                map_type: 2,
                key_size: 4,
                value_size: 8,
                max_entries: 1,
                flags: 0,
                initial: None,
                frozen: false,
                inner: None,
            }],
            helpers: vec![1],
            kfuncs: vec![],
            image: None,
            issued_at: "2025-01-01T00:00:00Z".into(),
            expires_at: "2025-01-08T00:00:00Z".into(),
        }
    }

    #[test]
    fn golden_payload() {
        let s = Statement::new(
            "00".repeat(32),
            Some(("11".repeat(32), "x86_64-sysv")),
            sample_predicate("accepted"),
        );
        let payload = String::from_utf8(s.to_payload()).expect("utf8");
        let expected = concat!(
            r#"{"_type":"https://in-toto.io/Statement/v1","predicate":{"errors":[],"expiresAt":"2025-01-08T00:00:00Z","#,
            r#""helpers":[1],"image":{"target":"x86_64-sysv"},"issuedAt":"2025-01-01T00:00:00Z","kfuncs":[],"#,
            r#""maps":[{"flags":0,"index":0,"keySize":4,"maxEntries":1,"name":"counters","type":2,"valueSize":8}],"#,
            r#""options":{"allowPtrLeaks":false,"domain":"zone","strictDiv":false},"#,
            r#""program":{"file":"xdp_pass.bpf.o","function":"xdp_pass","instructions":2,"programType":"xdp","section":"xdp"},"#,
            r#""verdict":"accepted","verifier":{"name":"vouch","version":"0.1.0"}},"#,
            r#""predicateType":"https://example.invalid/vouch/verdict/v1","#,
            r#""subject":[{"digest":{"sha256":"0000000000000000000000000000000000000000000000000000000000000000"},"name":"xdp_pass.bpf.o#xdp/xdp_pass"},"#,
            r#"{"digest":{"sha256":"1111111111111111111111111111111111111111111111111111111111111111"},"name":"xdp_pass.bpf.o#xdp/xdp_pass@x86_64-sysv"}]}"#
        );
        assert_eq!(payload, expected);
        let back = Statement::from_payload(payload.as_bytes()).expect("parses");
        assert_eq!(back, s);
        assert_eq!(back.program_digest(), Some("00".repeat(32).as_str()));
        assert_eq!(back.image_digest(), Some("11".repeat(32).as_str()));
    }

    #[test]
    fn map_initial_contents_decode_strictly() {
        let mut m = sample_predicate("accepted").maps.remove(0);
        assert_eq!(m.initial_bytes(), Ok(None));
        m.initial = Some("00ff7a".into());
        assert_eq!(m.initial_bytes(), Ok(Some(vec![0, 0xff, 0x7a])));
        for bad in ["0", "zz", "0A", "é0"] {
            m.initial = Some(bad.into());
            assert!(m.initial_bytes().is_err(), "{bad}");
        }
    }

    #[test]
    fn no_image_no_image_subject() {
        let s = Statement::new("00".repeat(32), None, sample_predicate("rejected"));
        assert_eq!(s.subject.len(), 1);
        assert_eq!(s.image_digest(), None);
        assert!(!String::from_utf8_lossy(&s.to_payload()).contains("\"image\""));
    }

    #[test]
    fn other_statements_are_refused() {
        let mut s = Statement::new("00".repeat(32), None, sample_predicate("accepted"));
        s.predicate_type = "https://slsa.dev/provenance/v1".into();
        assert!(Statement::from_payload(&s.to_payload()).is_err());
        assert!(Statement::from_payload(b"[]").is_err());
    }
}
