//! A small writer of `.BTF` blobs for tests: each method appends one type record and returns its
//! id, so hand-built blobs read like the C they describe. It writes whatever it is told, hostile
//! values included.

use super::types::TypeId;

pub(crate) struct BtfBuilder {
    types: Vec<u8>,
    strings: Vec<u8>,
    next_id: TypeId,
}

impl Default for BtfBuilder {
    fn default() -> Self {
        BtfBuilder {
            types: Vec::new(),
            strings: vec![0],
            next_id: 1,
        }
    }
}

impl BtfBuilder {
    pub(crate) fn new() -> BtfBuilder {
        BtfBuilder::default()
    }

    /// Appends a string to the string table and returns its offset ("" is offset 0).
    pub(crate) fn str(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    pub(crate) fn word(&mut self, w: u32) -> &mut BtfBuilder {
        self.types.extend_from_slice(&w.to_le_bytes());
        self
    }

    /// Appends a record header with a raw kind number; returns the new type's id.
    pub(crate) fn record(
        &mut self,
        name: &str,
        kind: u32,
        vlen: u32,
        kind_flag: bool,
        size_or_type: u32,
    ) -> TypeId {
        let name_off = self.str(name);
        self.record_at(name_off, kind, vlen, kind_flag, size_or_type)
    }

    pub(crate) fn record_at(
        &mut self,
        name_off: u32,
        kind: u32,
        vlen: u32,
        kind_flag: bool,
        size_or_type: u32,
    ) -> TypeId {
        let info = (u32::from(kind_flag) << 31) | (kind << 24) | vlen;
        self.word(name_off).word(info).word(size_or_type);
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// `encoding`: 0 unsigned, 1 signed, 2 char, 4 bool.
    pub(crate) fn int(&mut self, name: &str, size: u32, encoding: u32, bits: u32) -> TypeId {
        let id = self.record(name, 1, 0, false, size);
        self.word((encoding << 24) | bits);
        id
    }

    pub(crate) fn ptr(&mut self, target: TypeId) -> TypeId {
        self.record("", 2, 0, false, target)
    }

    pub(crate) fn array(&mut self, elem: TypeId, index: TypeId, nelems: u32) -> TypeId {
        let id = self.record("", 3, 0, false, 0);
        self.word(elem).word(index).word(nelems);
        id
    }

    /// Members are (name, type, bit offset, bitfield size); a nonzero bitfield size sets the kind
    /// flag.
    pub(crate) fn composite(
        &mut self,
        union: bool,
        name: &str,
        size: u32,
        members: &[(&str, TypeId, u32, u32)],
    ) -> TypeId {
        let kind_flag = members.iter().any(|m| m.3 != 0);
        let id = self.record(
            name,
            if union { 5 } else { 4 },
            members.len() as u32,
            kind_flag,
            size,
        );
        for &(m_name, ty, bit_offset, bitfield) in members {
            let off = self.str(m_name);
            let offset = if kind_flag {
                (bitfield << 24) | bit_offset
            } else {
                bit_offset
            };
            self.word(off).word(ty).word(offset);
        }
        id
    }

    pub(crate) fn struct_(
        &mut self,
        name: &str,
        size: u32,
        members: &[(&str, TypeId, u32)],
    ) -> TypeId {
        let members: Vec<_> = members.iter().map(|&(n, t, o)| (n, t, o, 0)).collect();
        self.composite(false, name, size, &members)
    }

    pub(crate) fn enum32(&mut self, name: &str, signed: bool, values: &[(&str, i32)]) -> TypeId {
        let id = self.record(name, 6, values.len() as u32, signed, 4);
        for &(v_name, value) in values {
            let off = self.str(v_name);
            self.word(off).word(value as u32);
        }
        id
    }

    pub(crate) fn enum64(&mut self, name: &str, signed: bool, values: &[(&str, u64)]) -> TypeId {
        let id = self.record(name, 19, values.len() as u32, signed, 8);
        for &(v_name, value) in values {
            let off = self.str(v_name);
            self.word(off).word(value as u32).word((value >> 32) as u32);
        }
        id
    }

    pub(crate) fn fwd(&mut self, name: &str, union: bool) -> TypeId {
        self.record(name, 7, 0, union, 0)
    }

    pub(crate) fn typedef(&mut self, name: &str, target: TypeId) -> TypeId {
        self.record(name, 8, 0, false, target)
    }

    /// kind 9 volatile, 10 const, 11 restrict.
    pub(crate) fn modifier(&mut self, kind: u32, target: TypeId) -> TypeId {
        self.record("", kind, 0, false, target)
    }

    pub(crate) fn func(&mut self, name: &str, proto: TypeId, linkage: u32) -> TypeId {
        self.record(name, 12, linkage, false, proto)
    }

    pub(crate) fn func_proto(
        &mut self,
        ret: TypeId,
        params: &[(&str, TypeId)],
        variadic: bool,
    ) -> TypeId {
        let vlen = params.len() as u32 + u32::from(variadic);
        let id = self.record("", 13, vlen, false, ret);
        for &(p_name, ty) in params {
            let off = self.str(p_name);
            self.word(off).word(ty);
        }
        if variadic {
            self.word(0).word(0);
        }
        id
    }

    pub(crate) fn var(&mut self, name: &str, ty: TypeId, linkage: u32) -> TypeId {
        let id = self.record(name, 14, 0, false, ty);
        self.word(linkage);
        id
    }

    pub(crate) fn datasec(&mut self, name: &str, size: u32, vars: &[(TypeId, u32, u32)]) -> TypeId {
        let id = self.record(name, 15, vars.len() as u32, false, size);
        for &(ty, offset, size) in vars {
            self.word(ty).word(offset).word(size);
        }
        id
    }

    pub(crate) fn float(&mut self, name: &str, size: u32) -> TypeId {
        self.record(name, 16, 0, false, size)
    }

    pub(crate) fn decl_tag(&mut self, name: &str, target: TypeId, component: i32) -> TypeId {
        let id = self.record(name, 17, 0, false, target);
        self.word(component as u32);
        id
    }

    pub(crate) fn type_tag(&mut self, name: &str, target: TypeId) -> TypeId {
        self.record(name, 18, 0, false, target)
    }

    /// The blob: a 24-byte little-endian header, the type section, then the string table.
    pub(crate) fn build(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let words = [
            24u32,
            0,
            self.types.len() as u32,
            self.types.len() as u32,
            self.strings.len() as u32,
        ];
        out.extend_from_slice(&[0x9f, 0xeb, 1, 0]);
        for w in words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }

    /// The same blob with every integer byte-swapped (a big-endian target's BTF).
    pub(crate) fn build_big_endian(&self) -> Vec<u8> {
        let little = self.build();
        let mut out = vec![0xeb, 0x9f, 1, 0];
        let ints_end = 24 + self.types.len();
        for chunk in little[4..ints_end].chunks(4) {
            out.extend(chunk.iter().rev());
        }
        out.extend_from_slice(&little[ints_end..]);
        out
    }
}
