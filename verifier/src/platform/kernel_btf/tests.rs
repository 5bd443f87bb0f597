use super::*;
use crate::elf::btf::builder::BtfBuilder;

/// A miniature kernel BTF: sockets, a task, a union, a struct with a flexible array, and
/// functions and a tracepoint whose arguments use them. The analysis tests use it too.
pub(crate) fn kernel() -> Btf {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4, 1, 32);
    let u8_ = b.int("unsigned char", 1, 0, 8);
    let u16_ = b.int("unsigned short", 2, 0, 16);
    let u32_ = b.int("unsigned int", 4, 0, 32);
    let u64_ = b.int("long long unsigned int", 8, 0, 64);
    let long = b.int("long int", 8, 1, 64);
    let char_ = b.int("char", 1, 2, 8);
    let sock_fwd = b.fwd("sock", false);
    let sock_ptr_fwd = b.ptr(sock_fwd);
    // struct sock_common { u16 family; u8 state; u8 flags:4; u32 daddr; struct sock *next; }
    let common = b.composite(
        false,
        "sock_common",
        16,
        &[
            ("skc_family", u16_, 0, 0),
            ("skc_state", u8_, 16, 0),
            ("skc_flags", u8_, 24, 4),
            ("skc_daddr", u32_, 32, 0),
            ("skc_next", sock_ptr_fwd, 64, 0),
        ],
    );
    let socket = b.struct_("socket", 8, &[("state", int, 0)]);
    let socket_ptr = b.ptr(socket);
    let two = b.array(u32_, int, 2);
    // struct sock { struct sock_common __sk_common; int rcvbuf; /* hole */ struct socket
    // *sk_socket; u32 sk_mark; u32 pair[2] ... } (48 bytes)
    let sock = b.struct_(
        "sock",
        48,
        &[
            ("__sk_common", common, 0),
            ("sk_rcvbuf", int, 128),
            ("sk_socket", socket_ptr, 192),
            ("sk_mark", u32_, 256),
            ("pair", two, 288),
        ],
    );
    let sock_ptr = b.ptr(sock);
    let task = b.struct_("task_struct", 16, &[("pid", int, 0), ("parent", u64_, 64)]);
    let task_ptr = b.ptr(task);
    let either = b.composite(true, "either", 8, &[("a", u32_, 0, 0), ("b", u64_, 0, 0)]);
    let item = b.struct_("item", 8, &[("v", u64_, 0)]);
    let items = b.array(item, int, 0);
    let flex = b.struct_("flex", 8, &[("n", int, 0), ("items", items, 64)]);
    let anon = b.struct_("", 8, &[("x", u64_, 0)]);
    let void_ptr = b.ptr(0);
    let int_ptr = b.ptr(int);
    let char_ptr = b.ptr(char_);
    let char_ptr_ptr = b.ptr(char_ptr);
    let anon_ptr = b.ptr(anon);
    let const_sock = b.modifier(10, sock);
    let const_sock_ptr = b.ptr(const_sock);
    let close = b.func_proto(0, &[("sk", sock_ptr), ("timeout", long)], false);
    b.func("tcp_close", close, 1);
    let ret_int = b.func_proto(int, &[("sk", const_sock_ptr)], false);
    b.func("sk_filter", ret_int, 1);
    let ret_ptr = b.func_proto(sock_ptr, &[("x", int)], false);
    b.func("sk_alloc", ret_ptr, 1);
    let odd = b.func_proto(
        int,
        &[
            ("v", void_ptr),
            ("i", int_ptr),
            ("pp", char_ptr_ptr),
            ("a", anon_ptr),
        ],
        false,
    );
    b.func("odd_args", odd, 1);
    let lsm = b.func_proto(int, &[("file", socket_ptr)], false);
    b.func("bpf_lsm_file_open", lsm, 1);
    let tp = b.func_proto(
        0,
        &[("__data", void_ptr), ("preempt", u8_), ("prev", task_ptr)],
        false,
    );
    let tp_ptr = b.ptr(tp);
    b.typedef("btf_trace_sched_switch", tp_ptr);
    let flex_ptr = b.ptr(flex);
    let either_ptr = b.ptr(either);
    let flex_user = b.func_proto(0, &[("f", flex_ptr), ("e", either_ptr)], false);
    b.func("use_flex", flex_user, 1);
    let path = b.struct_("path", 16, &[("mnt", u64_, 0), ("dentry", u64_, 64)]);
    let file = b.struct_("file", 24, &[("f_flags", u64_, 0), ("f_path", path, 64)]);
    let file_ptr = b.ptr(file);
    let read = b.func_proto(long, &[("file", file_ptr)], false);
    b.func("vfs_read", read, 1);
    Btf::parse(&b.build()).expect("test BTF parses")
}

fn proto(section: &str, t: ProgramType) -> Option<AttachProto> {
    let btf = kernel();
    KernelTypes::new(&btf).attach_proto(t, section)
}

#[test]
fn fentry_arguments_are_typed_and_counted() {
    let p = proto("fentry/tcp_close", ProgramType::Tracing).expect("tcp_close");
    assert_eq!(p.args, vec![ArgKind::Struct("sock"), ArgKind::Scalar]);
    assert_eq!(p.access(0, 8), Ok(ArgKind::Struct("sock")));
    assert_eq!(p.access(8, 8), Ok(ArgKind::Scalar));
    // The low half of a pointer is a number.
    assert_eq!(p.access(0, 4), Ok(ArgKind::Scalar));
    // Past the arguments: untyped, as without the BTF (branches for other kernel versions).
    assert_eq!(p.access(16, 8), Ok(ArgKind::Untyped));
    assert_eq!(p.access(56, 8), Ok(ArgKind::Untyped));
    let odd = p.access(4, 4).expect_err("inside a slot");
    assert!(odd.contains("not the start of one"), "{odd}");
    assert!(p.access(96, 8).is_err(), "past the trampoline's 12 slots");
    assert!(p.access(-8, 8).is_err());
}

#[test]
fn return_slots_follow_the_attach_kind() {
    let void = proto("fexit/tcp_close", ProgramType::Tracing).expect("fexit");
    assert_eq!(void.ret, None);
    assert_eq!(void.access(16, 8), Ok(ArgKind::Untyped));
    let int = proto("fexit/sk_filter", ProgramType::Tracing).expect("fexit int");
    assert_eq!(int.access(8, 8), Ok(ArgKind::Scalar));
    // A const-qualified struct pointer is still a struct pointer.
    assert_eq!(int.args, vec![ArgKind::Struct("sock")]);
    let ptr = proto("fexit/sk_alloc", ProgramType::Tracing).expect("fexit ptr");
    assert_eq!(ptr.access(8, 8), Ok(ArgKind::Struct("sock")));
    let modret = proto("fmod_ret/sk_filter", ProgramType::Tracing).expect("fmod_ret");
    assert_eq!(modret.ret, Some(ArgKind::Scalar));
    let bad = proto("fmod_ret/sk_alloc", ProgramType::Tracing).expect("fmod_ret ptr");
    assert_eq!(bad.ret, None, "fmod_ret of a pointer-returning function");
    assert_eq!(
        proto("fentry/sk_filter", ProgramType::Tracing).map(|p| p.ret),
        Some(None)
    );
    let lsm = proto("lsm/file_open", ProgramType::Lsm).expect("lsm hook");
    assert_eq!(lsm.args, vec![ArgKind::Struct("socket")]);
    assert_eq!(lsm.access(8, 8), Ok(ArgKind::Scalar));
}

#[test]
fn tracepoints_drop_the_hidden_data_argument() {
    let p = proto("tp_btf/sched_switch", ProgramType::Tracing).expect("tracepoint");
    assert_eq!(
        p.args,
        vec![ArgKind::Scalar, ArgKind::Struct("task_struct")]
    );
}

#[test]
fn only_struct_pointers_are_pointers() {
    let p = proto("fentry/odd_args", ProgramType::Tracing).expect("odd_args");
    assert_eq!(
        p.args,
        vec![
            ArgKind::Scalar,  // void *
            ArgKind::Scalar,  // int *
            ArgKind::Scalar,  // char ** (Linux refuses the load; a number is harmless)
            ArgKind::Untyped, // pointer to an anonymous struct
        ]
    );
}

#[test]
fn unknown_targets_stay_untyped() {
    for (section, t) in [
        ("fentry/no_such_function", ProgramType::Tracing),
        ("fentry/bpf_testmod:tcp_close", ProgramType::Tracing),
        ("tp_btf/no_such_tracepoint", ProgramType::Tracing),
        ("kprobe/tcp_close", ProgramType::Kprobe),
        ("fentry/", ProgramType::Tracing),
        ("fentry", ProgramType::Tracing),
        ("lsm/tcp_close", ProgramType::Lsm),
    ] {
        assert_eq!(proto(section, t), None, "{section}");
    }
}

fn walk(name: &'static str, off: i64, size: u32) -> Option<Result<ArgKind, String>> {
    let btf = kernel();
    KernelTypes::new(&btf).walk(name, off, size)
}

#[test]
fn struct_walks_type_members_like_linux() {
    // Nested struct member, narrower than the member's storage.
    assert_eq!(walk("sock", 0, 2), Some(Ok(ArgKind::Scalar)));
    assert_eq!(walk("sock", 0, 1), Some(Ok(ArgKind::Scalar)));
    // A pointer member read whole through the nested struct: to a forward declaration it is a
    // number, as in Linux; to a struct it is a pointer to it.
    assert_eq!(walk("sock", 8, 8), Some(Ok(ArgKind::Scalar)));
    assert_eq!(walk("sock", 24, 8), Some(Ok(ArgKind::Struct("socket"))));
    // A bitfield's byte.
    assert_eq!(walk("sock", 3, 1), Some(Ok(ArgKind::Scalar)));
    // Array elements, and the whole array as scratch space.
    assert_eq!(walk("sock", 40, 4), Some(Ok(ArgKind::Scalar)));
    assert_eq!(walk("sock", 36, 8), Some(Ok(ArgKind::Scalar)));
    assert_eq!(walk("task_struct", 8, 8), Some(Ok(ArgKind::Scalar)));
}

#[test]
fn struct_walks_refuse_what_linux_refuses() {
    let err = |name, off, size| match walk(name, off, size) {
        Some(Err(e)) => e,
        other => panic!("{name} +{off} ({size} bytes): {other:?}"),
    };
    assert!(err("sock", 48, 1).contains("outside `struct sock`"));
    assert!(err("sock", 44, 8).contains("outside"));
    assert!(err("sock", -8, 8).contains("outside"));
    // Half of a pointer member.
    assert!(err("sock", 24, 4).contains("is a pointer"));
    assert!(err("sock", 28, 4).contains("is a pointer"));
    // `int rcvbuf` and the hole after it.
    assert!(err("sock", 16, 8).contains("past the end of member `sk_rcvbuf`"));
    assert!(err("sock", 20, 4).contains("not inside one member"));
    assert_eq!(walk("no_such_struct", 0, 8), None);
}

#[test]
fn unions_and_flexible_arrays() {
    // Either member of a union admits the read.
    assert_eq!(walk("either", 0, 8), Some(Ok(ArgKind::Scalar)));
    assert_eq!(walk("either", 0, 4), Some(Ok(ArgKind::Scalar)));
    // items[5].v of `struct flex { int n; struct item items[]; }`.
    assert_eq!(walk("flex", 8 + 5 * 8, 8), Some(Ok(ArgKind::Scalar)));
    assert!(matches!(walk("flex", 4, 8), Some(Err(_))));
}

#[test]
fn names_are_interned_once() {
    let a = intern("a_kernel_type_name").expect("room");
    let b = intern(&String::from("a_kernel_type_name")).expect("room");
    assert!(std::ptr::eq(a, b));
}

#[test]
fn nested_structs_are_found_at_their_offsets() {
    let btf = kernel();
    let k = KernelTypes::new(&btf);
    assert!(k.nested_at("sock", 0, "sock_common"));
    assert!(k.nested_at("file", 8, "path"));
    assert!(!k.nested_at("file", 0, "path"));
    assert!(!k.nested_at("file", 16, "path"));
    assert!(!k.nested_at("sock", 8, "sock_common"));
    assert!(!k.nested_at("no_such_struct", 0, "path"));
}

/// A hostile BTF (members whose sizes overflow, arrays of arrays, a struct that nests itself
/// through a typedef cycle) and extreme offsets: every walk answers, none panics.
#[test]
fn hostile_types_and_offsets_never_panic() {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4, 1, 32);
    let big = b.array(int, int, u32::MAX);
    let bigger = b.array(big, int, u32::MAX);
    let cycle = b.typedef("loop_t", 4); // id 4: the typedef itself
    assert_eq!(cycle, 4);
    let s = b.struct_(
        "hostile",
        u32::MAX,
        &[("a", big, 0), ("b", bigger, 64), ("c", cycle, 128)],
    );
    let _ = s;
    let btf = Btf::parse(&b.build()).expect("hostile but well-formed BTF parses");
    let k = KernelTypes::new(&btf);
    for off in [
        0,
        4,
        7,
        8,
        16,
        1 << 40,
        i64::MAX - 8,
        i64::MAX,
        -1,
        i64::MIN,
    ] {
        for size in [1, 2, 4, 8] {
            let _ = k.walk("hostile", off, size);
            let _ = k.nested_at("hostile", off as u64, "int");
        }
    }
    let fixture = kernel();
    let k = KernelTypes::new(&fixture);
    for name in [
        "sock",
        "sock_common",
        "either",
        "flex",
        "file",
        "task_struct",
    ] {
        for off in [-1, 0, 1, 3, 47, 48, 1 << 20, i64::MAX - 7, i64::MAX] {
            for size in [1, 2, 4, 8] {
                let _ = k.walk(name, off, size);
            }
        }
    }
}
