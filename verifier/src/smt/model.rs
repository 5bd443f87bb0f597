//! Counterexamples: the concrete inputs a `sat` model describes.
//!
//! Read from the initial symbols only (initial memory, packet bounds, helper results), so a
//! counterexample is an input to the program, which is what a replay needs.

use super::encode::Symbols;
use z3::Model;
use z3::ast::BV;

/// Largest packet or context read out of a model (larger ones are truncated).
const MAX_BYTES: u64 = 4096;

/// Concrete inputs that (according to the encoding) reach the alarm with its property false.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counterexample {
    /// Packet data (between data and data_end).
    pub packet: Vec<u8>,
    /// Metadata bytes in front of the packet.
    pub meta_len: u64,
    /// The context's bytes.
    pub ctx: Vec<u8>,
    /// Results of helper calls: (pc, helper id, r0).
    pub helpers: Vec<(usize, i32, u64)>,
    /// Hash maps the replay had to give one element (zero key, zero value) before the bug
    /// showed: a `for_each_map_elem` callback runs only on a non-empty map, and user space
    /// fills maps, so their contents are part of the input. Empty when none was needed.
    pub seeded_maps: Vec<String>,
    /// What the interpreter saw when the replay confirmed the alarm (the trap, the watched
    /// state, the exit value); `None` until a replay confirms.
    pub observed: Option<String>,
}

impl Counterexample {
    /// Rows for a table: (what, value).
    pub fn rows(&self) -> Vec<(String, String)> {
        let mut rows = vec![
            ("packet length".to_string(), self.packet.len().to_string()),
            ("meta length".to_string(), self.meta_len.to_string()),
        ];
        for (i, w) in self.ctx.chunks(4).enumerate() {
            let mut buf = [0u8; 4];
            buf[..w.len()].copy_from_slice(w);
            let v = u32::from_le_bytes(buf);
            if v != 0 {
                rows.push((format!("ctx[{}] (u32)", 4 * i), format!("{v:#x}")));
            }
        }
        // Lines of 16 bytes; all-zero lines are summed up in one row.
        let mut zero_lines = 0;
        for (i, line) in self.packet.chunks(16).enumerate() {
            if line.iter().all(|b| *b == 0) {
                zero_lines += 1;
                continue;
            }
            let hex: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
            let end = 16 * i + line.len();
            rows.push((format!("packet[{}..{end}]", 16 * i), hex.join(" ")));
        }
        if zero_lines > 0 {
            rows.push(("other packet bytes".to_string(), "00".to_string()));
        }
        for (pc, id, v) in &self.helpers {
            let name = crate::platform::helper_name(*id).unwrap_or("helper");
            rows.push((format!("{name} at pc {pc} (r0)"), format!("{v:#x}")));
        }
        for map in &self.seeded_maps {
            rows.push((
                format!("map `{map}`"),
                "one element: zero key, zero value".to_string(),
            ));
        }
        if let Some(seen) = &self.observed {
            rows.push(("replay".to_string(), seen.clone()));
        }
        rows
    }
}

fn value(model: &Model, e: &BV) -> u64 {
    model.eval(e, true).and_then(|v| v.as_u64()).unwrap_or(0)
}

fn byte(model: &Model, s: &Symbols, addr: &BV) -> u8 {
    model
        .eval(&s.mem0.select(addr), true)
        .and_then(|d| d.as_bv())
        .and_then(|b| b.as_u64())
        .unwrap_or(0) as u8
}

pub fn extract(model: &Model, s: &Symbols) -> Counterexample {
    let data = value(model, &s.data0);
    let len = value(model, &s.end0).wrapping_sub(data).min(MAX_BYTES);
    let meta_len = data.wrapping_sub(value(model, &s.meta0)).min(MAX_BYTES);
    let packet = (0..len)
        .map(|i| byte(model, s, &(&s.data0 + BV::from_u64(i, 64))))
        .collect();
    let ctx = (0..s.ctx_size.min(MAX_BYTES))
        .map(|i| byte(model, s, &(&s.ctx_base + BV::from_u64(i, 64))))
        .collect();
    let helpers = s
        .helpers
        .iter()
        .map(|(pc, id, r0)| (*pc, *id, value(model, r0)))
        .collect();
    Counterexample {
        packet,
        meta_len,
        ctx,
        helpers,
        seeded_maps: vec![],
        observed: None,
    }
}

/// "The inputs differ from `cx`": asserted after a model whose replay did not confirm, so the
/// next model is another input.
pub fn blocking(cx: &Counterexample, s: &Symbols) -> z3::ast::Bool {
    let byte_differs = |addr: BV, b: u8| {
        s.mem0
            .select(&addr)
            .as_bv()
            .map(|v| v.eq(BV::from_u64(u64::from(b), 8)).not())
    };
    let mut differs: Vec<z3::ast::Bool> = vec![
        (&s.end0 - &s.data0)
            .eq(BV::from_u64(cx.packet.len() as u64, 64))
            .not(),
    ];
    for (i, b) in cx.ctx.iter().enumerate() {
        differs.extend(byte_differs(&s.ctx_base + BV::from_u64(i as u64, 64), *b));
    }
    for (i, b) in cx.packet.iter().enumerate() {
        differs.extend(byte_differs(&s.data0 + BV::from_u64(i as u64, 64), *b));
    }
    z3::ast::Bool::or(&differs)
}
