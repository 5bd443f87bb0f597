use super::*;
use crate::isa::asm::assemble;

fn cfg_of(src: &str) -> Result<Cfg, CfgError> {
    let insns = assemble(src).expect("assembles");
    build(&insns)
}

fn blocks(cfg: &Cfg) -> Vec<(usize, usize, usize)> {
    let mut v: Vec<_> = cfg
        .graph
        .node_weights()
        .map(|b| (b.frame, b.start, b.end))
        .collect();
    v.sort();
    v
}

#[test]
fn straight_line_and_branches() {
    let cfg = cfg_of("mov %r0, 0\njeq %r1, 0, +1\nmov %r0, 1\nexit").expect("valid");
    assert_eq!(blocks(&cfg), vec![(0, 0, 1), (0, 2, 2), (0, 3, 3)]);
    assert_eq!(cfg.graph.edge_count(), 3);
    assert!(cfg.unreachable.is_empty());
}

#[test]
fn calls_are_inlined_per_call_site() {
    let cfg = cfg_of("call local f\ncall local f\nexit\nf:\nmov %r0, 1\nexit").expect("valid");
    assert_eq!(cfg.frames.len(), 3);
    assert_eq!(cfg.frames[1].call_site, Some(0));
    assert_eq!(cfg.frames[2].call_site, Some(1));
    let callee_blocks = cfg.graph.node_weights().filter(|b| b.start == 3).count();
    assert_eq!(callee_blocks, 2);
    let returns = cfg
        .graph
        .edge_weights()
        .filter(|e| **e == Edge::Return)
        .count();
    assert_eq!(returns, 2);
}

#[test]
fn recursion_and_depth_are_rejected() {
    assert!(matches!(
        cfg_of("f:\ncall local f\nexit"),
        Err(CfgError::Recursion { pc: 0, .. })
    ));
    assert!(matches!(
        cfg_of("call local g\nexit\ng:\ncall local h\nexit\nh:\ncall local g\nexit"),
        Err(CfgError::Recursion { .. })
    ));
    let mut src = String::new();
    for i in 0..8 {
        src.push_str(&format!("f{i}:\ncall local f{}\nexit\n", i + 1));
    }
    src.push_str("f8:\nexit\n");
    assert!(matches!(
        cfg_of(&src),
        Err(CfgError::TooDeep { max: 8, .. })
    ));
}

#[test]
fn falling_off_the_end_is_an_error() {
    assert!(matches!(
        cfg_of("mov %r0, 0"),
        Err(CfgError::FallsOffEnd { .. })
    ));
    assert!(matches!(
        cfg_of("l:\njeq %r1, 0, l"),
        Err(CfgError::FallsOffEnd { .. })
    ));
}

#[test]
fn unreachable_code_is_reported() {
    let cfg = cfg_of("ja +1\nmov %r0, 5\nmov %r0, 0\nexit").expect("valid");
    assert_eq!(cfg.unreachable, vec![1]);
}

#[test]
fn wto_finds_nested_loops() {
    // outer: 1..=5, inner: 2..=3
    let src = "mov %r1, 0\nouter:\nmov %r2, 0\ninner:\nadd %r2, 1\njlt %r2, 10, inner\nadd %r1, 1\njlt %r1, 10, outer\nexit";
    let cfg = cfg_of(src).expect("valid");
    let wto = Wto::new(&cfg.graph, cfg.entry());
    let heads: Vec<usize> = wto.heads().iter().map(|h| cfg.graph[*h].start).collect();
    assert_eq!(heads, vec![1, 2]);
    let Component::Vertex(first) = wto.components[0] else {
        panic!("entry first")
    };
    assert_eq!(cfg.graph[first].start, 0);
}

#[test]
fn wto_of_a_long_chain_does_not_overflow_the_stack() {
    let mut src = String::new();
    for _ in 0..200_000 {
        src.push_str("jeq %r1, 0, +0\n");
    }
    src.push_str("exit\n");
    let cfg = cfg_of(&src).expect("valid");
    let wto = Wto::new(&cfg.graph, cfg.entry());
    assert_eq!(wto.components.len(), cfg.graph.node_count());
}

/// Live registers on block entry: read before written on some path; r10 always; a call keeps
/// the caller's r6-r9 live even when the callee overwrites them.
#[test]
fn liveness() {
    let src = "mov %r6, 1\njeq %r1, 0, +2\nmov %r2, %r3\nja +1\nmov %r2, 0\nmov %r0, %r2\nexit";
    let insns = assemble(src).expect("assembles");
    let cfg = build(&insns).expect("valid");
    let live = liveness::live_in(&cfg, &insns);
    let at = |pc: usize| {
        let b = cfg
            .graph
            .node_indices()
            .find(|&b| cfg.graph[b].start == pc)
            .expect("block");
        live[b.index()]
    };
    let regs = |rs: &[usize]| rs.iter().fold(1u16 << 10, |m, r| m | (1 << r));
    assert_eq!(at(0), regs(&[1, 3]));
    assert_eq!(at(2), regs(&[3]));
    assert_eq!(at(4), regs(&[]));
    assert_eq!(at(5), regs(&[2]));
    let src =
        "mov %r6, 1\nja +0\ncall local f\nmov %r0, %r6\nexit\nf:\nmov %r6, 2\nmov %r0, 0\nexit";
    let insns = assemble(src).expect("assembles");
    let cfg = build(&insns).expect("valid");
    let live = liveness::live_in(&cfg, &insns);
    let entry_of_call = cfg
        .graph
        .node_indices()
        .find(|&b| cfg.graph[b].start == 2 && cfg.graph[b].frame == 0)
        .expect("call block");
    assert_ne!(
        live[entry_of_call.index()] & (1 << 6),
        0,
        "r6 survives the call"
    );
}
