//! Cross-check against PREVAIL's semantic test cases (`../shared/prevail-tests` from the
//! repository root, never copied here): each case's pre-state becomes our entry state
//! (`analysis::prestate`), its snippet our instructions (`prevail/objdump.rs`, laid out by
//! `prevail/lower.rs`), and our verdict and post-state are compared with PREVAIL's
//! (`prevail/check.rs` says how, and which harness differences are adapted).
//!
//! - A case PREVAIL rejects that we accept is a **soundness finding**: the test fails unless
//!   `prevail/known.txt` lists it with a written reason (RFC 9669 or Linux semantics differ,
//!   PREVAIL is stricter than Linux, ...). So is a **post contradiction** (PREVAIL says the end
//!   is reachable, or a register may hold some values, and we prove otherwise).
//! - A case PREVAIL accepts that we reject is a **precision finding**; so is a post-state bound
//!   we cannot prove. Their counts may not rise above the baselines below.
//!
//! `PREVAIL_CASE=<substring>` prints the details of matching cases.

#[path = "prevail/check.rs"]
mod check;
#[path = "prevail/lower.rs"]
mod lower;
#[path = "prevail/objdump.rs"]
mod objdump;
#[path = "prevail/yaml.rs"]
mod yaml;

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Cases PREVAIL accepts that we reject, as measured; may only go down.
const PRECISION_BASELINE: usize = 56;
/// Safe cases whose post-state we cannot match (a bound not entailed, or an end PREVAIL
/// proves unreachable that we reach), as measured; may only go down.
const POST_GAP_BASELINE: usize = 16;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/prevail-tests")
}

/// One allowlist entry: `category | file | test case | reason`.
struct Known {
    category: String,
    file: String,
    case: String,
    reason: String,
    used: bool,
}

fn read_known() -> Vec<Known> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/prevail/known.txt");
    let text = std::fs::read_to_string(&path).expect("tests/prevail/known.txt is readable");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let parts: Vec<&str> = l.splitn(4, '|').map(str::trim).collect();
            assert_eq!(
                parts.len(),
                4,
                "known.txt: expected 'category | file | case | reason': {l}"
            );
            Known {
                category: parts[0].into(),
                file: parts[1].into(),
                case: parts[2].into(),
                reason: parts[3].into(),
                used: false,
            }
        })
        .collect()
}

#[derive(Default)]
struct Tally {
    cases: usize,
    skipped: BTreeMap<String, usize>,
    run: usize,
    unsupported_cases: usize,
    unsupported_reasons: BTreeMap<String, usize>,
    agree_safe: usize,
    agree_unsafe: usize,
    other_line: Vec<String>,
    pre_empty: Vec<String>,
    soundness: Vec<String>,
    precision: Vec<String>,
    post_compared: usize,
    post_bottom_agree: usize,
    post_checked: usize,
    post_entailed: usize,
    post_unchecked: usize,
    post_gap_cases: Vec<String>,
    contradictions: Vec<String>,
    unlisted: Vec<String>,
}

#[test]
fn prevail_cases() {
    let dir = data_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!(
            "note: {} not found; PREVAIL cross-check skipped",
            dir.display()
        );
        return;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .filter(|p| !p.ends_with("test-schema.yaml"))
        .collect();
    files.sort();
    let mut known = read_known();
    let filter = std::env::var("PREVAIL_CASE").ok();
    let mut t = Tally::default();
    for path in &files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(path).expect("case file is readable");
        let cases = yaml::parse_file(&name, &text).unwrap_or_else(|e| panic!("{e}"));
        for case in &cases {
            t.cases += 1;
            let out = check::run(case);
            if filter
                .as_ref()
                .is_some_and(|f| case.name.contains(f.as_str()))
            {
                eprintln!("== {name} / {}\n{case:#?}\n{out:#?}", case.name);
            }
            tally(&mut t, &mut known, &name, case, &out);
        }
    }
    print_summary(&t, &known);
    for k in &known {
        assert!(
            !k.reason.is_empty(),
            "known.txt: no reason for {} / {}",
            k.file,
            k.case
        );
    }
    let stale: Vec<String> = known
        .iter()
        .filter(|k| !k.used)
        .map(|k| format!("{} | {} | {}", k.category, k.file, k.case))
        .collect();
    assert!(
        t.unlisted.is_empty(),
        "{} soundness findings or post contradictions are not in tests/prevail/known.txt:\n{}",
        t.unlisted.len(),
        t.unlisted.join("\n")
    );
    assert!(
        stale.is_empty(),
        "known.txt entries that no longer occur (remove them):\n{}",
        stale.join("\n")
    );
    assert!(
        t.precision.len() <= PRECISION_BASELINE,
        "precision findings rose to {} (baseline {PRECISION_BASELINE})",
        t.precision.len()
    );
    assert!(
        t.post_gap_cases.len() <= POST_GAP_BASELINE,
        "post-state gaps rose to {} (baseline {POST_GAP_BASELINE})",
        t.post_gap_cases.len()
    );
}

fn tally(t: &mut Tally, known: &mut [Known], file: &str, case: &yaml::Case, out: &check::Outcome) {
    let id = format!("{file} / {}", case.name);
    if let Some(why) = &out.skipped {
        let key = why.split(':').next().unwrap_or(why).to_string();
        *t.skipped.entry(key).or_default() += 1;
        if why.starts_with("instruction") || why.starts_with("layout") {
            eprintln!("skipped {id}: {why}");
        }
        return;
    }
    t.run += 1;
    if out.pre_empty {
        t.pre_empty.push(id.clone());
    }
    if !out.unsupported_pre.is_empty() {
        t.unsupported_cases += 1;
        for (_, reason) in &out.unsupported_pre {
            *t.unsupported_reasons.entry(reason.clone()).or_default() += 1;
        }
    }
    let mut allow = |category: &str, line: String| match known
        .iter_mut()
        .find(|k| k.category == category && k.file == file && k.case == case.name)
    {
        Some(k) => k.used = true,
        None => t
            .unlisted
            .push(format!("{category} | {file} | {} | {line}", case.name)),
    };
    match (out.expect_unsafe, out.ours.is_empty()) {
        (true, true) => {
            let expected: Vec<&str> = case.messages.iter().map(String::as_str).collect();
            let line = format!("expected {expected:?}; we accept");
            allow("verdict", line.clone());
            t.soundness.push(format!("{id}: {line}"));
        }
        (false, false) => t.precision.push(format!("{id}: {}", out.ours[0])),
        (true, false) => {
            t.agree_unsafe += 1;
            if out.other_line {
                let expected: Vec<&str> = case.messages.iter().map(String::as_str).collect();
                t.other_line
                    .push(format!("{id}: expected {expected:?}; ours {:?}", out.ours));
            }
        }
        (false, true) => t.agree_safe += 1,
    }
    let post = &out.post;
    if post.skipped.is_none() {
        t.post_compared += 1;
        t.post_checked += post.checked;
        t.post_entailed += post.entailed;
        t.post_unchecked += post.unchecked;
        if post.expect_bottom && !post.reach_gap {
            t.post_bottom_agree += 1;
        }
        if post.reach_gap || !post.gaps.is_empty() {
            let what = if post.reach_gap {
                "PREVAIL proves the end unreachable; we reach it".to_string()
            } else {
                format!("not entailed: {}", post.gaps.join(", "))
            };
            t.post_gap_cases.push(format!("{id}: {what}"));
        }
        for c in &post.contradictions {
            allow("post", c.clone());
            t.contradictions.push(format!("{id}: {c}"));
        }
    }
}

fn print_summary(t: &Tally, known: &[Known]) {
    let skipped: usize = t.skipped.values().sum();
    println!("\nPREVAIL cross-check ({})", data_dir().display());
    println!("  cases parsed                      {:>4}", t.cases);
    println!("  skipped                           {skipped:>4}");
    for (why, n) in &t.skipped {
        println!("    {why:<40} {n:>4}");
    }
    println!("  run                               {:>4}", t.run);
    println!(
        "  with unsupported pre constraints  {:>4}  (constraints dropped, by reason:)",
        t.unsupported_cases
    );
    for (why, n) in &t.unsupported_reasons {
        println!("    {why:<50} {n:>4}");
    }
    println!(
        "  verdict agree                     {:>4}  (safe {}, unsafe {}, of which {} on other lines)",
        t.agree_safe + t.agree_unsafe,
        t.agree_safe,
        t.agree_unsafe,
        t.other_line.len()
    );
    println!(
        "  contradictory pre-states          {:>4}  (no state: nothing can fail)",
        t.pre_empty.len()
    );
    println!(
        "  soundness findings                {:>4}  (allowlisted with a reason: {})",
        t.soundness.len(),
        known
            .iter()
            .filter(|k| k.used && k.category == "verdict")
            .count()
    );
    println!(
        "  precision findings                {:>4}  (baseline {PRECISION_BASELINE})",
        t.precision.len()
    );
    println!(
        "  post-states compared              {:>4}  (bounds checked {}, entailed {}; {} constraints not compared)",
        t.post_compared, t.post_checked, t.post_entailed, t.post_unchecked
    );
    println!(
        "  ends unreachable, as PREVAIL says  {:>4}",
        t.post_bottom_agree
    );
    println!(
        "  post gaps (cases)                 {:>4}  (baseline {POST_GAP_BASELINE})",
        t.post_gap_cases.len()
    );
    println!(
        "  post contradictions               {:>4}",
        t.contradictions.len()
    );
    let section = |title: &str, items: &[String]| {
        if !items.is_empty() {
            println!("\n{title}:");
            for i in items {
                println!("  {i}");
            }
        }
    };
    section(
        "SOUNDNESS findings (PREVAIL rejects, we accept)",
        &t.soundness,
    );
    section("POST contradictions", &t.contradictions);
    section(
        "precision findings (PREVAIL accepts, we reject)",
        &t.precision,
    );
    section("both reject, on other lines", &t.other_line);
    section("contradictory pre-states", &t.pre_empty);
    section("post gaps", &t.post_gap_cases);
}
