use super::super::vm::run;
use super::super::{RuntimeConfig, packet};
use super::*;
use crate::interp::{Config, FaultReason, Trap};
use crate::isa::asm::assemble;

fn xdp(packet: Vec<u8>, meta_len: usize) -> RunInput {
    RunInput {
        program_type: ProgramType::Xdp,
        ctx: vec![0; 24],
        packet: Some(packet),
        meta_len,
        socket: 0,
        kernel_object: 0,
        args_from_ctx: false,
    }
}

fn exec(asm: &str, input: &RunInput) -> Result<super::super::vm::Outcome, Trap> {
    let mut rt = Runtime::new(&[], RuntimeConfig::default()).expect("runtime");
    let prog = assemble(asm).expect("assembles");
    run(&mut rt, &[&prog], 0, input, Config::default())
}

#[test]
fn pointer_fields_come_from_the_layout() {
    let xdp = crate::platform::layout(ProgramType::Xdp).expect("xdp");
    let kinds: Vec<(u32, FieldKind)> = pointer_fields(xdp)
        .iter()
        .map(|f| (f.offset, f.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (0, FieldKind::PacketStart),
            (4, FieldKind::PacketEnd),
            (8, FieldKind::PacketMeta)
        ]
    );
}

#[test]
fn ctx_loads_of_data_and_data_end_give_the_packet() {
    // r0 = data_end - data, and the first byte through data.
    let asm = "
        ldxw %r2, [%r1+0]
        ldxw %r3, [%r1+4]
        mov %r0, %r3
        sub %r0, %r2
        ldxb %r4, [%r2]
        lsh %r4, 32
        or %r0, %r4
        exit";
    let out = exec(asm, &xdp(vec![0xab; 60], 0)).expect("runs");
    assert_eq!(out.r0, (0xab << 32) | 60);
    // Reading the byte at data_end faults: the region ends exactly there.
    let err = exec(
        "ldxw %r3, [%r1+4]\nldxb %r0, [%r3]\nexit",
        &xdp(vec![1; 60], 0),
    )
    .expect_err("oob");
    assert!(
        matches!(err, Trap::Memory { fault, .. } if matches!(fault.reason, FaultReason::OutOfBounds { .. }))
    );
    // Metadata sits right before data and is readable.
    let out = exec(
        "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+8]\nmov %r0, %r2\nsub %r0, %r3\nexit",
        &xdp(vec![1; 60], 8),
    )
    .expect("runs");
    assert_eq!(out.r0, 8);
}

#[test]
fn adjust_head_moves_the_packet_and_stale_pointers_fault() {
    // Keep the old data pointer, shrink the head by 14, read through the old pointer.
    let asm = "
        mov %r6, %r1
        ldxw %r7, [%r1+0]
        mov %r2, 14
        call 44
        jne %r0, 0, done
        ldxw %r2, [%r6+0]
        ldxw %r3, [%r6+4]
        mov %r0, %r3
        sub %r0, %r2
        OLD
        done:
        exit";
    let out = exec(&asm.replace("OLD", ""), &xdp(vec![2; 60], 0)).expect("runs");
    assert_eq!(out.r0, 46);
    assert_eq!(out.packet.map(|p| p.len()), Some(46));
    let err =
        exec(&asm.replace("OLD", "ldxb %r0, [%r7]"), &xdp(vec![2; 60], 0)).expect_err("stale");
    assert!(
        matches!(err, Trap::Memory { fault, .. } if matches!(fault.reason, FaultReason::Released { .. }))
    );
    // Too short to keep an Ethernet header: -EINVAL, nothing moves.
    let out = exec(&asm.replace("OLD", ""), &xdp(vec![2; 20], 0)).expect("runs");
    assert_eq!(out.r0 as i64, -22);
}

#[test]
fn packet_adjustments_respect_limits() {
    let mut p = Packet::new(&[1; 100], true);
    assert!(p.adjust_head(-(HEADROOM as i64)));
    assert!(!p.adjust_head(-1), "no headroom left");
    assert!(p.adjust_head(HEADROOM as i64));
    assert!(p.adjust_meta(-8));
    assert!(!p.adjust_meta(-6), "metadata must stay a multiple of 4");
    assert!(
        !p.adjust_meta(-(MAX_META as i64)),
        "at most 32 bytes of metadata"
    );
    assert!(p.set_len(100 + TAILROOM as u64));
    assert!(!p.set_len(101 + TAILROOM as u64));
    assert!(!p.set_len(10), "shorter than an Ethernet header");
    assert!(p.set_len(20));
    assert_eq!(p.read(0, 20), Some(vec![1; 20]));
    assert_eq!(p.read(1, 20), None);
    assert!(!p.write(19, &[0, 0]));
}

#[test]
fn skb_helpers_load_store_and_checksum() {
    let input = RunInput {
        program_type: ProgramType::SchedCls,
        ctx: vec![0; 192],
        packet: Some((0..64).collect()),
        meta_len: 0,
        socket: 0,
        kernel_object: 0,
        args_from_ctx: false,
    };
    // skb_load_bytes(skb, 60, stack, 8): past the end → -EFAULT; (skb, 8, stack, 4) → bytes.
    let load = |off: u32, len: u32| {
        format!(
            "mov %r2, {off}\nmov %r3, %r10\nadd %r3, -8\nmov %r4, {len}\ncall 26\njne %r0, 0, +1\nldxw %r0, [%r10-8]\nexit"
        )
    };
    assert_eq!(exec(&load(60, 8), &input).expect("runs").r0 as i64, -14);
    assert_eq!(
        exec(&load(8, 4), &input).expect("runs").r0,
        u64::from(u32::from_le_bytes([8, 9, 10, 11]))
    );
    // skb_store_bytes then the packet holds the bytes.
    let store = "stw [%r10-4], 0x01020304\nmov %r2, 2\nmov %r3, %r10\nadd %r3, -4\nmov %r4, 4\nmov %r5, 0\ncall 9\nexit";
    let out = exec(store, &input).expect("runs");
    assert_eq!(out.packet.expect("packet")[2..6], [4, 3, 2, 1]);
    // RFC 1624 against a full recomputation.
    let sum = |words: &[u16]| {
        !packet::csum_fold(
            words
                .iter()
                .fold(0u32, |s, &w| packet::csum_add(s, u32::from(w))),
        )
    };
    let before = [0x4500u16, 0x0073, 0x1234, 0xabcd];
    let after = [0x4500u16, 0x0073, 0x4321, 0xabcd];
    assert_eq!(
        packet::csum_replace2(sum(&before), 0x1234, 0x4321),
        sum(&after)
    );
    assert_eq!(packet::csum_diff(&[], &[1, 0, 0, 0], 0), 1);
}
