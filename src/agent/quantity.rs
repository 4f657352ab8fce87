//! Kubernetes resource quantities (`4`, `500m`, `16Gi`, `1e3`), enough to add up node
//! capacities: parsed to exact milli-units, summed, and printed back canonically.

/// A quantity in thousandths of its unit, and whether it was written in binary (Ki, Mi...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    pub milli: i128,
    pub binary: bool,
}

/// Parses a quantity; `None` for malformed text.
pub fn parse(text: &str) -> Option<Quantity> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let (mantissa, exp10, binary_mult): (&str, i32, i128) = match suffix {
        "" => (number, 0, 1),
        "m" => (number, -3, 1),
        "k" => (number, 3, 1),
        "M" => (number, 6, 1),
        "G" => (number, 9, 1),
        "T" => (number, 12, 1),
        "P" => (number, 15, 1),
        "E" => (number, 18, 1),
        "Ki" => (number, 0, 1 << 10),
        "Mi" => (number, 0, 1 << 20),
        "Gi" => (number, 0, 1 << 30),
        "Ti" => (number, 0, 1 << 40),
        "Pi" => (number, 0, 1 << 50),
        "Ei" => (number, 0, 1 << 60),
        s if s.starts_with(['e', 'E']) => (number, s[1..].parse().ok()?, 1),
        _ => return None,
    };
    if mantissa.is_empty() {
        return None;
    }
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let negative = int_part.starts_with('-');
    let digits = format!("{}{}", int_part.trim_start_matches(['+', '-']), frac_part);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut value: i128 = digits.parse().ok()?;
    // value × 10^(exp10 + 3 - frac digits) × binary_mult milli-units.
    let mut shift = exp10 + 3 - frac_part.len() as i32;
    value = value.checked_mul(binary_mult)?;
    while shift > 0 {
        value = value.checked_mul(10)?;
        shift -= 1;
    }
    while shift < 0 {
        value /= 10;
        shift += 1;
    }
    Some(Quantity {
        milli: if negative { -value } else { value },
        binary: binary_mult > 1,
    })
}

/// Prints a quantity: whole units when exact (in Ki/Mi/Gi when written in binary and
/// divisible), milli-units otherwise.
pub fn format(q: Quantity) -> String {
    if q.milli % 1000 != 0 {
        return format!("{}m", q.milli);
    }
    let units = q.milli / 1000;
    if q.binary && units != 0 {
        for (suffix, size) in [
            ("Ei", 1i128 << 60),
            ("Pi", 1 << 50),
            ("Ti", 1 << 40),
            ("Gi", 1 << 30),
            ("Mi", 1 << 20),
            ("Ki", 1 << 10),
        ] {
            if units % size == 0 {
                return format!("{}{suffix}", units / size);
            }
        }
    }
    units.to_string()
}

/// Adds quantities; a binary one makes the sum print in binary.
pub fn add(a: Quantity, b: Quantity) -> Quantity {
    Quantity {
        milli: a.milli.saturating_add(b.milli),
        binary: a.binary || b.binary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_sums() {
        let sum = |xs: &[&str]| {
            format(xs.iter().map(|x| parse(x).expect(x)).fold(
                Quantity {
                    milli: 0,
                    binary: false,
                },
                add,
            ))
        };
        assert_eq!(sum(&["4", "2"]), "6");
        assert_eq!(sum(&["500m", "1"]), "1500m");
        assert_eq!(sum(&["16Gi", "16Gi"]), "32Gi");
        assert_eq!(sum(&["1Gi", "512Mi"]), "1536Mi");
        assert_eq!(sum(&["110", "110"]), "220");
        assert_eq!(sum(&["1k", "1e3"]), "2000");
        assert_eq!(sum(&["1.5"]), "1500m");
        assert!(parse("abc").is_none());
        assert!(parse("12Qi").is_none());
    }
}
