//! Checks of the helper tables: structure (ids, names, argument shapes), spot checks against
//! Linux, and coverage of every helper the sample and corpus objects call.

use super::*;
use crate::platform::helper_name;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use Access::{Read, Write};
use ProgramType as T;

fn family_protos() -> impl Iterator<Item = &'static HelperProto> {
    ALL.iter().flat_map(|family| family.iter())
}

fn named(name: &str) -> &'static HelperProto {
    let id = crate::platform::helper_id(name).expect("a uapi helper name");
    proto(id).expect("a prototype")
}

#[test]
fn ids_and_names_agree_with_the_uapi() {
    for p in all() {
        assert_eq!(helper_name(p.id), Some(p.name), "helper {}", p.id);
    }
}

#[test]
fn every_uapi_helper_has_a_prototype() {
    let missing: Vec<_> = (1..ID_COUNT as i32)
        .filter(|&id| proto(id).is_none())
        .collect();
    assert!(missing.is_empty(), "no prototype for {missing:?}");
    assert_eq!(family_protos().count(), ID_COUNT - 1);
    assert!(proto(0).is_none() && proto(-1).is_none() && proto(ID_COUNT as i32).is_none());
}

#[test]
fn ids_are_unique() {
    let mut seen = BTreeSet::new();
    for p in family_protos() {
        assert!(seen.insert(p.id), "duplicate id {}", p.id);
    }
    let mut seen = BTreeSet::new();
    for v in variants::VARIANTS {
        assert!(seen.insert(v.id), "two variants of {}", v.name);
    }
}

#[test]
fn variants_do_not_overlap_the_common_prototype() {
    for v in variants::VARIANTS {
        let common = proto(v.id).expect("a variant has a common prototype");
        assert!(
            v.families == [Family::Listed] && !v.types.is_empty(),
            "{}",
            v.name
        );
        for &t in v.types {
            assert!(!common.allowed_in(t), "{} offered twice to {t}", v.name);
            assert_eq!(proto_for(v.id, t), Some(v));
        }
    }
}

#[test]
fn argument_shapes_are_well_formed() {
    for p in all() {
        assert!(p.args.len() <= 5, "{}: more than 5 arguments", p.name);
        let has_map = |i: usize| p.args[..i].contains(&Arg::MapPtr);
        for (i, arg) in p.args.iter().enumerate() {
            match arg {
                // Every Mem argument is immediately followed by its size; no exceptions.
                Arg::Mem { .. } => assert!(
                    matches!(p.args.get(i + 1), Some(Arg::Size { .. })),
                    "{}: Mem argument {} without a Size after it",
                    p.name,
                    i + 1
                ),
                Arg::Size { .. } => assert!(
                    i > 0 && matches!(p.args[i - 1], Arg::Mem { .. }),
                    "{}: Size argument {} not after a Mem",
                    p.name,
                    i + 1
                ),
                Arg::AllocSize => assert_eq!(p.ret, Ret::RingbufRecordOrNull, "{}", p.name),
                Arg::MapKey | Arg::MapValue | Arg::MapValueOrNull | Arg::MapValueOut => {
                    assert!(has_map(i), "{}: map argument before any MapPtr", p.name)
                }
                _ => {}
            }
        }
        if matches!(p.ret, Ret::MapValueOrNull | Ret::MapValue) {
            assert!(
                p.args.contains(&Arg::MapPtr),
                "{}: map return without a map",
                p.name
            );
        }
        if p.ret == Ret::RingbufRecordOrNull {
            assert!(p.args.contains(&Arg::AllocSize), "{}", p.name);
        }
        let anything = p
            .args
            .iter()
            .any(|a| matches!(a, Arg::Anything | Arg::FormatArg));
        assert!(
            !p.leaks_args || anything,
            "{}: leaks without Anything args",
            p.name
        );
        assert!(
            !p.families.is_empty() && (p.families != [Family::Listed] || !p.types.is_empty()),
            "{}: callable from nowhere",
            p.name
        );
    }
}

#[test]
fn linux_spot_checks() {
    use Arg::*;
    let cases: &[(&str, &[Arg], Ret)] = &[
        ("map_lookup_elem", &[MapPtr, MapKey], Ret::MapValueOrNull),
        (
            "map_update_elem",
            &[MapPtr, MapKey, MapValue, Anything],
            Ret::Integer,
        ),
        (
            "probe_read_kernel",
            &[
                Mem {
                    access: Write,
                    nullable: false,
                },
                Size { zero_ok: true },
                Anything,
            ],
            Ret::Integer,
        ),
        (
            "tail_call",
            &[Ctx { nullable: false }, MapPtr, Anything],
            Ret::Integer,
        ),
        (
            "ringbuf_reserve",
            &[MapPtr, AllocSize, Anything],
            Ret::RingbufRecordOrNull,
        ),
        ("ringbuf_submit", &[RingbufRecord, Anything], Ret::Void),
        (
            "get_current_comm",
            &[
                Mem {
                    access: Write,
                    nullable: false,
                },
                Size { zero_ok: false },
            ],
            Ret::Integer,
        ),
        (
            "loop",
            &[Anything, Callback, Stack { nullable: true }, Anything],
            Ret::Integer,
        ),
        ("spin_lock", &[SpinLock], Ret::Void),
        (
            "skb_load_bytes",
            &[
                Ctx { nullable: false },
                Anything,
                Mem {
                    access: Write,
                    nullable: false,
                },
                Size { zero_ok: false },
            ],
            Ret::Integer,
        ),
        (
            "perf_event_output",
            &[
                Ctx { nullable: false },
                MapPtr,
                Anything,
                Mem {
                    access: Read,
                    nullable: false,
                },
                Size { zero_ok: true },
            ],
            Ret::Integer,
        ),
        (
            "sk_lookup_tcp",
            &[
                Ctx { nullable: false },
                Mem {
                    access: Read,
                    nullable: false,
                },
                Size { zero_ok: false },
                Anything,
                Anything,
            ],
            Ret::SocketOrNull {
                needs_release: true,
            },
        ),
        ("sk_release", &[OwnedSocket], Ret::Integer),
        ("get_local_storage", &[MapPtr, Anything], Ret::MapValue),
    ];
    for (name, args, ret) in cases {
        let p = named(name);
        assert_eq!((p.args, p.ret), (*args, *ret), "{name}");
    }
    assert_eq!(named("loop").id, 181);
    assert_eq!(named("probe_read_kernel").id, 113);
    for gpl in [
        "probe_read_kernel",
        "trace_printk",
        "perf_event_output",
        "timer_init",
    ] {
        assert!(named(gpl).gpl_only, "{gpl}");
    }
    for free in [
        "map_lookup_elem",
        "tail_call",
        "ringbuf_output",
        "redirect",
        "loop",
    ] {
        assert!(!named(free).gpl_only, "{free}");
    }
}

#[test]
fn packet_changing_helpers_are_exactly_linux_list() {
    // Linux's bpf_helper_changes_pkt_data (net/core/filter.c), by uapi name.
    let linux: BTreeSet<&str> = [
        "skb_vlan_push",
        "skb_vlan_pop",
        "skb_store_bytes",
        "skb_change_proto",
        "skb_change_head",
        "skb_change_tail",
        "skb_adjust_room",
        "skb_pull_data",
        "clone_redirect",
        "l3_csum_replace",
        "l4_csum_replace",
        "xdp_adjust_head",
        "xdp_adjust_meta",
        "msg_pull_data",
        "msg_push_data",
        "msg_pop_data",
        "xdp_adjust_tail",
        "lwt_seg6_store_bytes",
        "lwt_seg6_adjust_srh",
        "lwt_seg6_action",
        "store_hdr_opt",
        "lwt_push_encap",
    ]
    .into_iter()
    .collect();
    let ours: BTreeSet<&str> = all()
        .filter(|p| p.changes_packet_data)
        .map(|p| p.name)
        .collect();
    assert_eq!(ours, linux);
}

#[test]
fn leaking_helpers() {
    let ours: BTreeSet<&str> = all().filter(|p| p.leaks_args).map(|p| p.name).collect();
    let expected: BTreeSet<&str> = [
        "trace_printk",
        "override_return",
        "set_retval",
        "l3_csum_replace",
        "l4_csum_replace",
        "csum_diff",
        "csum_update",
        "skb_vlan_push",
        "set_hash",
        "skb_set_tstamp",
        "sock_ops_cb_flags_set",
    ]
    .into_iter()
    .collect();
    assert_eq!(ours, expected);
    assert!(
        named("trace_printk").args[2..]
            .iter()
            .all(|a| *a == Arg::FormatArg)
    );
}

#[test]
fn availability_follows_the_program_type() {
    let cases: &[(&str, ProgramType, bool)] = &[
        ("map_lookup_elem", T::SocketFilter, true),
        ("map_lookup_elem", T::Unknown, false),
        ("tail_call", T::Xdp, true),
        ("trace_printk", T::CgroupSock, true),
        ("skb_store_bytes", T::SchedCls, true),
        ("skb_store_bytes", T::SocketFilter, false),
        ("skb_store_bytes", T::CgroupSkb, false),
        ("skb_load_bytes", T::SocketFilter, true),
        ("skb_load_bytes", T::FlowDissector, true),
        ("skb_load_bytes", T::Xdp, false),
        ("xdp_adjust_head", T::Xdp, true),
        ("xdp_adjust_head", T::SchedCls, false),
        ("redirect", T::Xdp, true),
        ("redirect", T::SocketFilter, false),
        ("redirect_map", T::Xdp, true),
        ("probe_read", T::Kprobe, true),
        ("probe_read", T::Xdp, false),
        ("probe_read_kernel", T::Xdp, true),
        ("perf_event_output", T::Tracepoint, true),
        ("perf_event_output", T::FlowDissector, false),
        ("get_stackid", T::PerfEvent, true),
        ("get_stackid", T::SchedCls, false),
        ("override_return", T::Kprobe, true),
        ("override_return", T::Tracepoint, false),
        ("sock_map_update", T::SockOps, true),
        ("sk_redirect_map", T::SkSkb, true),
        ("sk_redirect_map", T::SkMsg, false),
        ("setsockopt", T::SockOps, true),
        ("get_current_uid_gid", T::CgroupSock, true),
        ("get_current_uid_gid", T::Xdp, false),
        ("seq_write", T::Tracing, true),
        ("skc_to_tcp_sock", T::Tracing, true),
        ("skc_to_tcp_sock", T::Kprobe, false),
        ("get_local_storage", T::CgroupSkb, true),
        ("get_local_storage", T::SchedCls, false),
        ("lwt_push_encap", T::LwtOut, false),
        ("ktime_get_coarse_ns", T::Kprobe, false),
    ];
    for &(name, t, allowed) in cases {
        assert_eq!(
            proto_for(named(name).id, t).map(|p| p.allowed_in(t)),
            Some(allowed),
            "{name} in {t}"
        );
    }
}

#[test]
fn variants_are_chosen_by_program_type() {
    let cookie = named("get_socket_cookie").id;
    assert_eq!(
        proto_for(cookie, T::SchedCls).map(|p| p.args),
        Some(&[Arg::Ctx { nullable: false }][..])
    );
    assert_eq!(
        proto_for(cookie, T::Tracing).map(|p| p.args),
        Some(&[Arg::Socket { nullable: true }][..])
    );
    let classid = named("get_cgroup_classid").id;
    assert_eq!(
        proto_for(classid, T::CgroupSock).map(|p| p.args.len()),
        Some(0)
    );
    assert_eq!(
        proto_for(classid, T::SchedCls).map(|p| p.args.len()),
        Some(1)
    );
}

/// Every ELF object under `dir`, recursively, sorted.
fn objects(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "o") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn every_helper_the_samples_call_has_a_prototype() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dirs = [
        root.join("../../shared/samples"),
        root.join("../corpus/build"),
    ];
    let mut missing = BTreeSet::new();
    let mut unavailable = BTreeSet::new();
    let mut programs = 0;
    for path in dirs.iter().flat_map(|d| objects(d)) {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let Ok(object) = crate::elf::load(&bytes, &Default::default()) else {
            continue;
        };
        for program in &object.programs {
            programs += 1;
            for &id in &program.helpers {
                match proto_for(id, program.program_type) {
                    None => {
                        missing.insert((id, path.display().to_string()));
                    }
                    Some(p)
                        if program.program_type != T::Unknown
                            && !p.allowed_in(program.program_type) =>
                    {
                        unavailable.insert((p.name, program.program_type, program.section.clone()));
                    }
                    Some(_) => {}
                }
            }
        }
    }
    // Informational: a sample may deliberately call a helper its type cannot (a `reject` case).
    // Programs of unknown type (sections that name none) are not listed.
    for (name, t, section) in &unavailable {
        eprintln!("not available: {name} in {t} ({section})");
    }
    eprintln!("{programs} programs checked");
    assert!(
        missing.is_empty(),
        "helpers without a prototype: {missing:?}"
    );
}
