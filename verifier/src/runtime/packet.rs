//! Packet helpers: loads and stores into packet data, checksum updates, and the helpers that
//! grow, shrink or move the packet (the caller gives the packet a new address afterwards; see
//! [`super::context`]).

use super::helpers::ERR_2BIG;
use super::{AddressSpace, Run, Runtime};
use crate::interp::{HelperError, HelperReturn};

const EINVAL: i64 = 22;
const EFAULT: i64 = 14;
/// Largest `csum_diff` input (Linux's per-CPU scratch buffer).
const MAX_CSUM_DIFF: usize = 512;

fn value(v: i64) -> Result<HelperReturn, HelperError> {
    Ok(HelperReturn::Value(v as u64))
}

fn size(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// Ones' complement addition with end-around carry.
pub fn csum_add(a: u32, b: u32) -> u32 {
    let (s, carry) = a.overflowing_add(b);
    s.wrapping_add(u32::from(carry))
}

/// Folds a 32-bit partial sum to 16 bits.
pub fn csum_fold(mut s: u32) -> u16 {
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// RFC 1624 incremental update of checksum `check` when 16-bit word `old` becomes `new`.
pub fn csum_replace2(check: u16, old: u16, new: u16) -> u16 {
    let s = csum_add(csum_add(u32::from(!check), u32::from(!old)), u32::from(new));
    !csum_fold(s)
}

/// Linux's `csum_diff`: the partial sum of `!from` and `to` (as 32-bit words) plus `seed`.
pub fn csum_diff(from: &[u8], to: &[u8], seed: u32) -> u32 {
    let word = |c: &[u8]| {
        let mut b = [0u8; 4];
        b[..c.len()].copy_from_slice(c);
        u32::from_le_bytes(b)
    };
    let mut s = seed;
    for c in from.chunks(4) {
        s = csum_add(s, !word(c));
    }
    for c in to.chunks(4) {
        s = csum_add(s, word(c));
    }
    s
}

impl Runtime {
    pub(super) fn packet_helper(
        &mut self,
        run: &mut Run,
        id: i32,
        a: [u64; 5],
        space: &mut dyn AddressSpace,
    ) -> Result<HelperReturn, HelperError> {
        if id == 28 {
            // csum_diff(from, from_size, to, to_size, seed): needs no packet.
            let (nf, nt) = (size(a[1]), size(a[3]));
            space.check(a[0], nf, false)?;
            space.check(a[2], nt, false)?;
            if (nf | nt) % 4 != 0 || nf.saturating_add(nt) > MAX_CSUM_DIFF {
                return value(-EINVAL);
            }
            let from = space.read(a[0], nf)?;
            let to = space.read(a[2], nt)?;
            return value(i64::from(csum_diff(&from, &to, a[4] as u32)));
        }
        let Some(packet) = run.packet.as_mut() else {
            return value(-EINVAL);
        };
        let offset = u64::from(a[1] as u32);
        match id {
            26 | 68 => {
                // skb_load_bytes(skb, off, to, len) / _relative(.., start_header)
                let n = size(a[3]);
                space.check(a[2], n, true)?;
                let base = if id == 68 && a[4] == 1 { 14 } else { 0 };
                match packet.read(offset.saturating_add(base), n as u64) {
                    Some(bytes) => {
                        space.write(a[2], &bytes)?;
                        value(0)
                    }
                    None => {
                        space.write(a[2], &vec![0; n])?;
                        value(-EFAULT)
                    }
                }
            }
            9 => {
                // skb_store_bytes(skb, off, from, len, flags)
                let n = size(a[3]);
                space.check(a[2], n, false)?;
                let bytes = space.read(a[2], n)?;
                value(if packet.write(offset, &bytes) {
                    0
                } else {
                    -EFAULT
                })
            }
            10 | 11 => {
                // l3/l4_csum_replace(skb, off, from, to, flags): size in the low 4 bits
                let Some(old) = packet.read(offset, 2) else {
                    return value(-EFAULT);
                };
                let check = u16::from_le_bytes([old[0], old[1]]);
                let new = match a[4] & 0xf {
                    2 => csum_replace2(check, a[2] as u16, a[3] as u16),
                    4 => {
                        let c = csum_replace2(check, a[2] as u16, a[3] as u16);
                        csum_replace2(c, (a[2] >> 16) as u16, (a[3] >> 16) as u16)
                    }
                    0 if id == 11 => !csum_fold(csum_add(u32::from(!check), a[3] as u32)),
                    _ => return value(-EINVAL),
                };
                packet.write(offset, &new.to_le_bytes());
                value(0)
            }
            44 => value(if packet.adjust_head(i64::from(a[1] as i32)) {
                0
            } else {
                -EINVAL
            }),
            54 => value(if packet.adjust_meta(i64::from(a[1] as i32)) {
                0
            } else {
                -EINVAL
            }),
            65 => {
                let len = packet.len() as i64 + i64::from(a[1] as i32);
                value(if len >= 0 && packet.set_len(len as u64) {
                    0
                } else {
                    -EINVAL
                })
            }
            38 => value(if packet.set_len(u64::from(a[1] as u32)) {
                0
            } else {
                -EINVAL
            }),
            43 => {
                // skb_change_head(skb, len, flags): room in front of the data
                let grow = i64::from(a[1] as u32);
                value(if packet.adjust_head(-grow) {
                    0
                } else {
                    ERR_2BIG
                })
            }
            // skb_pull_data, vlan push/pop, adjust_room: the data is linear and the tag lives
            // in metadata; only the move (done by the caller) is observable.
            _ => value(0),
        }
    }
}
