//! C-like names of types for messages: `struct iphdr *`, `unsigned int`, `char[16]`,
//! `int (*)(void *)`. Total by design: a missing type or a cycle prints a marker instead of
//! failing, because the caller is already reporting another error.

use super::types::*;
use super::{Btf, MAX_RESOLVE_DEPTH};

/// Most types one name visits (prototypes fan out through their parameters).
const MAX_NAME_VISITS: usize = 256;

impl Btf {
    /// The C spelling of type `id`, e.g. `const char *` or `struct task_struct`. A FUNC prints as
    /// its declaration (`int handle_tp(void *)`), a VAR as its definition (`char LICENSE[13]`).
    pub fn type_name(&self, id: TypeId) -> String {
        let mut printer = Printer {
            btf: self,
            visits: 0,
        };
        printer.full(id, 0)
    }
}

struct Printer<'a> {
    btf: &'a Btf,
    visits: usize,
}

/// A declarator split around where a name (or `(*)`) would go: `int` + `[4]`.
struct Decl {
    left: String,
    right: String,
}

impl Decl {
    fn plain(left: impl Into<String>) -> Decl {
        Decl {
            left: left.into(),
            right: String::new(),
        }
    }
}

impl Printer<'_> {
    fn full(&mut self, id: TypeId, depth: usize) -> String {
        let Decl { mut left, right } = self.decl(id, depth);
        if right.is_empty() {
            // "int " from a prototype's return type has nothing after it.
            left.truncate(left.trim_end().len());
        }
        left + &right
    }

    fn decl(&mut self, id: TypeId, depth: usize) -> Decl {
        self.visits += 1;
        if depth > MAX_RESOLVE_DEPTH || self.visits > MAX_NAME_VISITS {
            return Decl::plain("...");
        }
        let Some(ty) = self.btf.get(id) else {
            return Decl::plain(format!("<no type [{id}]>"));
        };
        let name = self.btf.name(id);
        let named = |prefix: &str| match name {
            Some(n) => format!("{prefix}{n}"),
            None => format!("{prefix}<anon>"),
        };
        match &ty.kind {
            TypeKind::Void => Decl::plain("void"),
            TypeKind::Int(_) | TypeKind::Float(_) | TypeKind::Typedef(_) => Decl::plain(named("")),
            TypeKind::Struct(_) | TypeKind::Fwd(FwdKind::Struct) => Decl::plain(named("struct ")),
            TypeKind::Union(_) | TypeKind::Fwd(FwdKind::Union) => Decl::plain(named("union ")),
            TypeKind::Enum(_) | TypeKind::Enum64(_) => Decl::plain(named("enum ")),
            TypeKind::Datasec(_) => Decl::plain(named("DATASEC ")),
            TypeKind::DeclTag(_) => Decl::plain(named("DECL_TAG ")),
            TypeKind::Ptr(target) => self.pointer(*target, depth),
            TypeKind::Array(a) => {
                let inner = self.decl(a.elem, depth + 1);
                Decl {
                    left: inner.left,
                    right: format!("[{}]{}", a.nelems, inner.right),
                }
            }
            TypeKind::Const(t) => self.qualified("const", *t, depth),
            TypeKind::Volatile(t) => self.qualified("volatile", *t, depth),
            TypeKind::Restrict(t) => self.qualified("restrict", *t, depth),
            TypeKind::TypeTag(tag) => self.qualified(&named("__"), tag.target, depth),
            TypeKind::FuncProto(proto) => self.prototype(proto, depth),
            TypeKind::Func(func) => self.declare(func.proto, &named(""), depth),
            TypeKind::Var(var) => self.declare(var.ty, &named(""), depth),
        }
    }

    fn pointer(&mut self, target: TypeId, depth: usize) -> Decl {
        let inner = self.decl(target, depth + 1);
        if inner.right.is_empty() {
            return Decl::plain(with_star(inner.left, "*"));
        }
        if inner.right.starts_with(')') {
            // Already inside a `(*…)` group: `int (**)(void)`.
            return Decl {
                left: inner.left + "*",
                right: inner.right,
            };
        }
        // Pointer to array or function: `int (*)[4]`, `int (*)(void *)`.
        Decl {
            left: with_star(inner.left, "(*"),
            right: format!("){}", inner.right),
        }
    }

    fn qualified(&mut self, qualifier: &str, target: TypeId, depth: usize) -> Decl {
        let inner = self.decl(target, depth + 1);
        let left = if inner.left.ends_with('*') {
            format!("{}{qualifier}", inner.left)
        } else {
            format!("{qualifier} {}", inner.left)
        };
        Decl {
            left,
            right: inner.right,
        }
    }

    fn prototype(&mut self, proto: &FuncProto, depth: usize) -> Decl {
        let ret = self.full(proto.ret, depth + 1);
        let mut params: Vec<String> = proto
            .params
            .iter()
            .map(|p| self.full(p.ty, depth + 1))
            .collect();
        if proto.variadic {
            params.push("...".into());
        }
        if params.is_empty() {
            params.push("void".into());
        }
        Decl {
            left: with_star(ret, ""),
            right: format!("({})", params.join(", ")),
        }
    }

    /// `type name` for a FUNC or VAR, the name placed inside the declarator.
    fn declare(&mut self, ty: TypeId, name: &str, depth: usize) -> Decl {
        let inner = self.decl(ty, depth + 1);
        Decl {
            left: with_star(inner.left, name),
            right: inner.right,
        }
    }
}

/// Joins a type and what follows it in a declarator with a space unless the type ends with `*`
/// or a space already: `int *`, `char **`, `int (*`.
fn with_star(mut left: String, after: &str) -> String {
    if !left.ends_with('*') && !left.ends_with(' ') {
        left.push(' ');
    }
    left.push_str(after);
    left
}
