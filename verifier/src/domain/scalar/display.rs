//! How a scalar reads in error messages and logs: like the Linux verifier's, with only the
//! views that say something the others do not.

use std::fmt;

use super::Scalar;
use super::bounds::Bounds;
use super::sync::sync;
use crate::domain::tnum::Tnum;

/// A constant as `5` (read as signed); otherwise, in this order and each only if informative:
/// the 64-bit bounds `[smin, smax]` and `u[umin, umax]` (omitted when the 32-bit views imply
/// them), `u32[..]` and `s32[..]` (when the 64-bit bounds and known bits do not imply them),
/// and the known bits `(value=..; mask=..)` (when the bounds do not imply them). `scalar` when
/// nothing is known.
impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(c) = self.is_constant() {
            return write!(f, "{}", c as i64);
        }
        let (b64, b32) = (self.b64(), self.b32());
        let implied = |b64, b32, bits| sync(b64, b32, bits).unwrap_or((b64, b32, bits));
        let mut views = Vec::new();
        let full = Bounds::full(64);
        let print64 = implied(full, b32, Tnum::UNKNOWN).0 != b64;
        if print64 {
            let signed_full = (b64.smin, b64.smax) == (full.smin, full.smax);
            if !signed_full {
                views.push(format!("[{}, {}]", b64.smin, b64.smax));
            }
            let unsigned_full = (b64.umin, b64.umax) == (full.umin, full.umax);
            let straddles = b64.smin < 0 && b64.smax >= 0;
            if !unsigned_full && (signed_full || straddles) {
                views.push(format!("u[{}, {}]", b64.umin, b64.umax));
            }
        }
        let from64 = if print64 {
            implied(b64, Bounds::full(32), self.bits).1
        } else {
            Bounds::full(32)
        };
        let print_u32 = (b32.umin, b32.umax) != (from64.umin, from64.umax);
        if print_u32 {
            views.push(format!("u32[{}, {}]", self.u32min, self.u32max));
        }
        let s32_differs = (b32.smin, b32.smax) != (from64.smin, from64.smax);
        if s32_differs && (!print_u32 || (self.s32min < 0 && self.s32max >= 0)) {
            views.push(format!("s32[{}, {}]", self.s32min, self.s32max));
        }
        if implied(b64, b32, Tnum::UNKNOWN).2 != self.bits {
            views.push(self.bits.to_string());
        }
        if !self.cong.is_top() {
            views.push(format!(
                "≡{} mod {}",
                self.cong.residue(),
                self.cong.modulus()
            ));
        }
        if views.is_empty() {
            return f.write_str("scalar");
        }
        f.write_str(&views.join(" "))
    }
}
