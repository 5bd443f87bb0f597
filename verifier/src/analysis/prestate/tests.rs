use super::*;
use crate::analysis::{MapInfo, Verdict};
use crate::isa::asm::assemble;
use crate::platform::ProgramType;

fn run(pre: &[&str], src: &str) -> (PreState, Report) {
    let insns = assemble(src).expect("test program assembles");
    let pre = PreState::build(pre);
    let maps: Vec<MapInfo> = (0..2)
        .map(|i| MapInfo {
            name: format!("m{i}"),
            map_type: 1,
            key_size: 4,
            value_size: 4,
            max_entries: 4,
            read_only: false,
            frozen: None,
            inner: None,
        })
        .collect();
    let input = Input {
        insns: &insns,
        program_type: ProgramType::Xdp,
        section: "",
        maps: &maps,
        kernel_btf: None,
    };
    let r = verify_from(input, &Options::default(), &pre);
    (pre, r)
}

#[test]
fn packet_pointer_checked_against_packet_size() {
    let pre = [
        "r1.type=packet",
        "r1.packet_offset=0",
        "packet_size=[0, 65534]",
        "r0.type=number",
        "r0.svalue=0",
    ];
    let (p, r) = run(&pre, "ldxb %r2, [%r1]\nexit");
    assert!(p.unsupported().is_empty(), "{:?}", p.unsupported());
    assert_eq!(r.verdict, Verdict::Rejected, "{:?}", r.diagnostics);
    // With one byte known to be there, the load is safe.
    let mut known = pre.to_vec();
    known.push("packet_size=[1, 65534]");
    let (_, r) = run(&known, "ldxb %r2, [%r1]\nexit");
    assert_eq!(r.verdict, Verdict::Accepted, "{:?}", r.diagnostics);
}

#[test]
fn relation_to_packet_size_proves_access() {
    // r2 = data_end, r1 + 8 <= r2 makes an 8-byte access safe.
    let pre = [
        "r1.type=packet",
        "r1.packet_offset=0",
        "r2.type=packet",
        "r2.packet_offset=packet_size",
        "r1.packet_offset-packet_size<=-8",
        "r0.type=number",
    ];
    let (p, r) = run(&pre, "ldxdw %r3, [%r1]\nexit");
    assert!(p.unsupported().is_empty(), "{:?}", p.unsupported());
    assert_eq!(r.verdict, Verdict::Accepted, "{:?}", r.diagnostics);
}

#[test]
fn stack_offsets_follow_r10() {
    // PREVAIL's r10 at 4096: s[4088...4095] is our r10-8.
    let pre = [
        "r10.type=stack",
        "r10.stack_offset=4096",
        "s[4088...4095].type=number",
        "s[4088...4095].svalue=7",
        "r0.type=number",
    ];
    let (p, r) = run(
        &pre,
        "ldxdw %r0, [%r10-8]\njeq %r0, 7, +1\nldxdw %r0, [%r10+8]\nexit",
    );
    assert!(p.unsupported().is_empty(), "{:?}", p.unsupported());
    // The out-of-bounds load is unreachable only if the slot holds exactly 7.
    assert_eq!(r.verdict, Verdict::Accepted, "{:?}", r.diagnostics);
}

#[test]
fn uninitialised_registers_and_alternatives() {
    let (p, r) = run(&["r0.type=number"], "mov %r0, %r3\nexit");
    assert_eq!(p.disjunct_count(), 1);
    assert_eq!(r.verdict, Verdict::Rejected);
    let (p, _) = run(
        &[
            "r1.type in {ctx, packet}",
            "r2.type in {ctx, packet}",
            "r1.type=r2.type",
            "r0.type=number",
        ],
        "exit",
    );
    assert_eq!(p.disjunct_count(), 2);
}

#[test]
fn contradictions_and_bottom() {
    let (p, r) = run(&["r1.type=number", "r1.svalue=1", "r1.uvalue=2"], "exit");
    assert_eq!(p.disjunct_count(), 0);
    assert_eq!(r.verdict, Verdict::Accepted);
    let (p, _) = run(&["_|_"], "exit");
    assert_eq!(p.disjunct_count(), 0);
}

#[test]
fn unsupported_constraints_are_listed() {
    let (p, _) = run(
        &[
            "r1.type=packet",
            "r1.svalue=[4098, 2147418112]",
            "r2.type=socket",
            "pc[1]=3",
            "r3.packet_offset=0",
            "nonsense",
        ],
        "exit",
    );
    let listed: Vec<&str> = p
        .unsupported()
        .iter()
        .map(|u| u.constraint.as_str())
        .collect();
    for c in [
        "r1.svalue=[4098, 2147418112]",
        "r2.type=socket",
        "pc[1]=3",
        "r3.packet_offset=0",
        "nonsense",
    ] {
        assert!(listed.contains(&c), "{c} not listed in {listed:?}");
    }
}

#[test]
fn map_references_are_checked() {
    let (p, r) = run(&["r1.type=map_fd", "r1.map_fd=5"], "exit");
    assert_eq!(
        p.map_refs(),
        &[MapRef {
            id: 5,
            programs: false
        }]
    );
    assert_eq!(r.verdict, Verdict::Rejected);
    assert_eq!(r.diagnostics[0].kind, "pre-state");
}

#[test]
fn shared_pointer_may_be_null_when_its_address_may_be_zero() {
    let src = "ldxw %r0, [%r1]\nexit";
    let (p, r) = run(
        &[
            "r1.type=shared",
            "r1.shared_region_size=4",
            "r1.shared_offset=0",
            "r1.svalue=[0, 100]",
        ],
        src,
    );
    assert_eq!(p.unsupported().len(), 1);
    assert_eq!(r.verdict, Verdict::Rejected);
    assert_eq!(r.diagnostics[0].kind, "null", "{:?}", r.diagnostics);
    let (_, r) = run(
        &[
            "r1.type=shared",
            "r1.shared_region_size=4",
            "r1.shared_offset=0",
            "r1.svalue=[1, 100]",
        ],
        src,
    );
    assert_eq!(r.verdict, Verdict::Accepted, "{:?}", r.diagnostics);
}

#[test]
fn unsigned_equals_signed_means_equal_and_non_negative() {
    // r2 = r1 with r1 >= 0: the branch on r2 < 0 (signed) cannot be taken.
    let pre = [
        "r0.type=number",
        "r1.type=number",
        "r2.type=number",
        "r2.uvalue=r1.svalue",
    ];
    let (p, r) = run(&pre, "jsge %r1, 0, +1\nldxdw %r0, [%r10+8]\nexit");
    assert!(p.unsupported().is_empty(), "{:?}", p.unsupported());
    assert_eq!(r.verdict, Verdict::Accepted, "{:?}", r.diagnostics);
}

#[test]
fn narrow_stack_constants_survive_calls() {
    let pre = [
        "r0.type=number",
        "s[511...511].type=number",
        "s[511...511].svalue=1",
    ];
    let src = "call local +4\nldxb %r1, [%r10-1]\njeq %r1, 1, +1\nldxdw %r0, [%r10+8]\nexit\nmov %r0, 0\nexit";
    let (_, r) = run(&pre, src);
    assert_eq!(r.verdict, Verdict::Accepted, "{:?}", r.diagnostics);
}

#[test]
fn malformed_constraints_do_not_panic() {
    let weird = [
        "",
        "=",
        "r1.type=",
        "r1.type in {",
        "s[5...].type=number",
        "s[600...700].type=number",
        "s[9...2].type=number",
        "s[-8...-1].svalue=3",
        "r1.map_fd=99999999999999999999999",
        "r3.type=map_fd",
        "r3.map_fd=18446744073709551615",
        "r1.svalue=[5, 1]",
        "r2.type=number",
        "r2.uvalue=[-5, 3]",
        "pc[1]=[1, +oo]",
        "r1.svalue-r2.svalue<=99999999999999999999",
        "r4.type=stack",
        "r4.stack_numeric_size=-100",
        "r4.stack_offset=[600, 9223372036854775807]",
        "r10.stack_offset=-9223372036854775808",
        "packet_size=[-oo, +oo]",
    ];
    let (p, r) = run(&weird, "exit");
    assert!(!p.unsupported().is_empty());
    assert_eq!(r.verdict, Verdict::Rejected);
}

/// Every field of every subject with extreme values, alone and in pairs with a type: building
/// and running from them must not panic.
#[test]
fn extreme_constraints_do_not_panic() {
    let subjects = [
        "r0",
        "r1",
        "r10",
        "s[0...7]",
        "s[504...511]",
        "s[511...511]",
    ];
    let fields = [
        "type",
        "svalue",
        "uvalue",
        "ctx_offset",
        "stack_offset",
        "packet_offset",
        "shared_offset",
        "shared_region_size",
        "stack_numeric_size",
        "map_fd",
    ];
    let values = [
        "0",
        "-1",
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551615",
        "[-oo, +oo]",
        "[5, -5]",
        "number",
        "stack",
        "shared",
        "packet",
        "map_fd",
        "map_fd_programs",
        "ctx",
        "packet_size",
        "r1.svalue+7",
    ];
    let types = ["number", "ctx", "stack", "packet", "shared", "map_fd"];
    let mut n = 0;
    for s in subjects {
        for f in fields {
            for v in values {
                for t in types {
                    let pre = [format!("{s}.type={t}"), format!("{s}.{f}={v}")];
                    let pre: Vec<&str> = pre.iter().map(String::as_str).collect();
                    let _ = run(&pre, "ldxdw %r0, [%r1]\nexit");
                    n += 1;
                }
            }
        }
    }
    assert!(n > 1000);
}
