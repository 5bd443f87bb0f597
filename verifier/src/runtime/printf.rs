//! `bpf_trace_printk` formatting, best effort: `%d %i %u %x %X %o %c %s %p %%` with `l`/`ll`/`h`/
//! `hh`/`z` lengths, flags and widths. Anything it does not understand is copied literally, and a
//! `%s` whose pointer cannot be read prints `(fault)`, so a bad format never fails the program
//! (Linux refuses bad formats at run time with -EINVAL; the verifier does not check them).

/// Formats `fmt` with up to three arguments; `read_str` reads a string argument.
pub fn format(fmt: &[u8], args: [u64; 3], read_str: &dyn Fn(u64) -> Option<Vec<u8>>) -> String {
    let mut out = String::new();
    let mut next = args.iter().copied();
    let mut i = 0;
    while let Some(&c) = fmt.get(i) {
        i += 1;
        if c != b'%' {
            out.push(char::from(c));
            continue;
        }
        let start = i - 1;
        // Flags and width.
        let mut zero = false;
        let mut left = false;
        while let Some(&f) = fmt.get(i) {
            match f {
                b'0' => zero = true,
                b'-' => left = true,
                b'+' | b' ' | b'#' => {}
                _ => break,
            }
            i += 1;
        }
        let mut width = 0usize;
        while let Some(d) = fmt.get(i).filter(|d| d.is_ascii_digit()) {
            width = (width * 10 + usize::from(d - b'0')).min(64);
            i += 1;
        }
        // Length: the number of bits of the argument.
        let mut bits = 32;
        while let Some(&l) = fmt.get(i) {
            match l {
                b'l' | b'z' => bits = 64,
                b'h' => bits = if bits == 16 { 8 } else { 16 },
                _ => break,
            }
            i += 1;
        }
        let Some(&conv) = fmt.get(i) else {
            out.push_str(&String::from_utf8_lossy(
                fmt.get(start..).unwrap_or_default(),
            ));
            break;
        };
        i += 1;
        let mask = |v: u64| {
            if bits >= 64 {
                v
            } else {
                v & ((1u64 << bits) - 1)
            }
        };
        let signed = |v: u64| -> i64 {
            match bits {
                64 => v as i64,
                32 => v as u32 as i32 as i64,
                16 => v as u16 as i16 as i64,
                _ => v as u8 as i8 as i64,
            }
        };
        let text = match conv {
            b'%' => "%".to_string(),
            b'd' | b'i' => signed(next.next().unwrap_or(0)).to_string(),
            b'u' => mask(next.next().unwrap_or(0)).to_string(),
            b'x' => format!("{:x}", mask(next.next().unwrap_or(0))),
            b'X' => format!("{:X}", mask(next.next().unwrap_or(0))),
            b'o' => format!("{:o}", mask(next.next().unwrap_or(0))),
            b'c' => char::from(next.next().unwrap_or(0) as u8).to_string(),
            b'p' => {
                // %pK, %pS, %pI4 ...: skip the modifier letters, print the pointer.
                while fmt.get(i).is_some_and(|c| c.is_ascii_alphanumeric()) {
                    i += 1;
                }
                format!("{:#x}", next.next().unwrap_or(0))
            }
            b's' => match read_str(next.next().unwrap_or(0)) {
                Some(s) => String::from_utf8_lossy(&s).into_owned(),
                None => "(fault)".to_string(),
            },
            _ => String::from_utf8_lossy(fmt.get(start..i).unwrap_or_default()).into_owned(),
        };
        let pad = width.saturating_sub(text.chars().count());
        if left {
            out.push_str(&text);
            out.extend(std::iter::repeat_n(' ', pad));
        } else {
            let fill = if zero { '0' } else { ' ' };
            out.extend(std::iter::repeat_n(fill, pad));
            out.push_str(&text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::format;

    fn f(fmt: &str, args: [u64; 3]) -> String {
        format(fmt.as_bytes(), args, &|a| (a == 7).then(|| b"hi".to_vec()))
    }

    #[test]
    fn conversions() {
        assert_eq!(
            f("a=%d b=%u c=%x", [(-5i64) as u64, 7, 255]),
            "a=-5 b=7 c=ff"
        );
        assert_eq!(
            f("%llu %lld", [u64::MAX, u64::MAX, 0]),
            "18446744073709551615 -1"
        );
        assert_eq!(f("%d", [0xffff_ffff, 0, 0]), "-1");
        assert_eq!(f("%s|%s", [7, 8, 0]), "hi|(fault)");
        assert_eq!(f("%05d|%-3u|", [42, 1, 0]), "00042|1  |");
        assert_eq!(f("100%%", [0; 3]), "100%");
    }

    #[test]
    fn bad_formats_do_not_fail() {
        assert_eq!(f("%", [0; 3]), "%");
        assert_eq!(f("%q %d %d %d %d", [1, 2, 3]), "%q 1 2 3 0");
        assert_eq!(f("%99999999999d", [1, 0, 0]).len(), 64);
    }
}
