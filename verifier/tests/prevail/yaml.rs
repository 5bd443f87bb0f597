//! Reads PREVAIL's test files: the subset of YAML they use, no more.
//!
//! No YAML crate is an approved dependency, and the files use few forms: documents separated by
//! `---`; top-level `key: value` pairs whose values are plain or double-quoted scalars, flow
//! sequences (`["a", "b"]`, possibly over several lines), block sequences (`- item`), and under
//! `code` a mapping from `<label>` to a literal block scalar (`|`) or a one-line plain scalar.
//! `observe` holds nested mappings, which are only noted. Comments (`#` at the start of a line
//! or after a space in a plain scalar) are dropped. Anything else is an error naming the line,
//! so a new form in the data fails loudly instead of being misread.

/// One test case as written.
#[derive(Clone, Debug, Default)]
pub struct Case {
    pub name: String,
    pub options: Vec<String>,
    pub pre: Vec<String>,
    /// `(label, lines)` in file order; the first label is the entry.
    pub code: Vec<(String, Vec<String>)>,
    pub post: Vec<String>,
    pub messages: Vec<String>,
    /// The case has `observe` assertions (a PREVAIL harness feature we do not run).
    pub observe: bool,
    /// The case tests PREVAIL's own YAML harness (malformed on purpose).
    pub expected_exception: Option<String>,
}

/// Splits a file into its cases.
pub fn parse_file(file: &str, text: &str) -> Result<Vec<Case>, String> {
    let mut cases = vec![];
    let mut doc: Vec<(usize, &str)> = vec![];
    for (i, line) in text.lines().enumerate() {
        if line.trim_end() == "---" {
            flush(file, &mut doc, &mut cases)?;
        } else {
            doc.push((i + 1, line));
        }
    }
    flush(file, &mut doc, &mut cases)?;
    Ok(cases)
}

fn flush(file: &str, doc: &mut Vec<(usize, &str)>, cases: &mut Vec<Case>) -> Result<(), String> {
    let lines = std::mem::take(doc);
    if lines.iter().all(|(_, l)| is_blank_or_comment(l)) {
        return Ok(());
    }
    let case = parse_case(file, &lines)?;
    // The schema file is YAML too but not a test case.
    if !case.name.is_empty() {
        cases.push(case);
    }
    Ok(())
}

fn is_blank_or_comment(l: &str) -> bool {
    let t = l.trim();
    t.is_empty() || t.starts_with('#')
}

fn indent(l: &str) -> usize {
    l.len() - l.trim_start().len()
}

fn parse_case(file: &str, lines: &[(usize, &str)]) -> Result<Case, String> {
    let mut case = Case::default();
    let mut i = 0;
    while i < lines.len() {
        let (no, line) = lines[i];
        if is_blank_or_comment(line) {
            i += 1;
            continue;
        }
        if indent(line) != 0 {
            return Err(format!("{file}:{no}: unexpected indented line {line:?}"));
        }
        let (key, rest) = line
            .split_once(':')
            .ok_or_else(|| format!("{file}:{no}: expected 'key: value'"))?;
        let rest = rest.trim();
        i += 1;
        // The lines that belong to this key (indented, or a flow sequence's continuation).
        let start = i;
        if rest.starts_with('[') {
            let mut text = rest.to_string();
            while bracket_depth(&text) > 0 {
                let (_, more) = *lines
                    .get(i)
                    .ok_or_else(|| format!("{file}:{no}: unterminated flow sequence"))?;
                text.push(' ');
                text.push_str(more.trim());
                i += 1;
            }
            let items = flow_sequence(&text).map_err(|e| format!("{file}:{no}: {e}"))?;
            set_list(&mut case, key, items, file, no)?;
            continue;
        }
        while i < lines.len() && (indent(lines[i].1) > 0 || lines[i].1.trim().is_empty()) {
            i += 1;
        }
        let body = &lines[start..i];
        match key {
            "test-case" => case.name = scalar(rest),
            "expected-exception" => case.expected_exception = Some(scalar(rest)),
            "observe" => case.observe = true,
            "code" => case.code = code_block(file, body)?,
            "id" | "$schema" | "description" | "oneOf" => {}
            _ if rest.is_empty() => {
                let items = block_sequence(file, body)?;
                set_list(&mut case, key, items, file, no)?;
            }
            _ => return Err(format!("{file}:{no}: unexpected key {key:?}")),
        }
    }
    Ok(case)
}

fn set_list(
    case: &mut Case,
    key: &str,
    items: Vec<String>,
    file: &str,
    no: usize,
) -> Result<(), String> {
    match key {
        "pre" => case.pre = items,
        "post" => case.post = items,
        "messages" => case.messages = items,
        "options" => case.options = items,
        "observe" => case.observe = true,
        _ => return Err(format!("{file}:{no}: unexpected list {key:?}")),
    }
    Ok(())
}

/// A plain or double-quoted scalar, without a trailing ` # comment`.
fn scalar(s: &str) -> String {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('"')
        && let Some(end) = rest.find('"')
        && (rest[end + 1..].trim().is_empty() || rest[end + 1..].trim_start().starts_with('#'))
    {
        return rest[..end].to_string();
    }
    match s.find(" #") {
        Some(i) => s[..i].trim_end().to_string(),
        None => s.to_string(),
    }
}

/// A flow sequence without a ` # comment` after its closing bracket.
fn drop_trailing_comment(s: &str) -> &str {
    match s.rfind(']') {
        Some(i) if s[i + 1..].trim_start().starts_with('#') => &s[..=i],
        _ => s,
    }
}

/// `[` minus `]` outside double quotes.
fn bracket_depth(s: &str) -> i32 {
    let mut depth = 0;
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            '[' if !quoted => depth += 1,
            ']' if !quoted => depth -= 1,
            _ => {}
        }
    }
    depth
}

/// `["a", "b", c]` → items (commas inside quotes or brackets do not split).
fn flow_sequence(s: &str) -> Result<Vec<String>, String> {
    let s = drop_trailing_comment(s);
    let inner = s
        .trim()
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or_else(|| format!("not a flow sequence: {s:?}"))?;
    let mut items = vec![];
    let mut current = String::new();
    let (mut quoted, mut depth) = (false, 0);
    for c in inner.chars() {
        match c {
            '"' => quoted = !quoted,
            '[' if !quoted => depth += 1,
            ']' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                items.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    items.push(current);
    Ok(items
        .iter()
        .map(|i| scalar(i))
        .filter(|i| !i.is_empty())
        .collect())
}

/// `- item` lines.
fn block_sequence(file: &str, body: &[(usize, &str)]) -> Result<Vec<String>, String> {
    let mut items = vec![];
    for &(no, line) in body {
        if is_blank_or_comment(line) {
            continue;
        }
        let item = line
            .trim()
            .strip_prefix("- ")
            .ok_or_else(|| format!("{file}:{no}: expected '- item', got {line:?}"))?;
        items.push(scalar(item));
    }
    Ok(items)
}

/// `<label>: |` followed by a literal block, or `<label>: text`.
fn code_block(file: &str, body: &[(usize, &str)]) -> Result<Vec<(String, Vec<String>)>, String> {
    let mut blocks = vec![];
    let mut i = 0;
    while i < body.len() {
        let (no, line) = body[i];
        i += 1;
        if is_blank_or_comment(line) {
            continue;
        }
        let key_indent = indent(line);
        let (label, rest) = line
            .trim()
            .split_once(':')
            .ok_or_else(|| format!("{file}:{no}: expected '<label>: ...'"))?;
        let rest = rest.trim();
        if rest != "|" {
            blocks.push((label.to_string(), vec![scalar(rest)]));
            continue;
        }
        // The block's indentation is its first non-blank line's; a less indented line ends it.
        let mut content = vec![];
        let mut block_indent: Option<usize> = None;
        while i < body.len() {
            let (_, l) = body[i];
            if l.trim().is_empty() {
                content.push(String::new());
                i += 1;
                continue;
            }
            let ind = indent(l);
            let bi = *block_indent.get_or_insert(ind);
            if ind <= key_indent || ind < bi {
                break;
            }
            content.push(l[bi..].to_string());
            i += 1;
        }
        while content.last().is_some_and(|l| l.is_empty()) {
            content.pop();
        }
        blocks.push((label.to_string(), content));
    }
    Ok(blocks)
}
