//! Resource quantities (`resource.Quantity` strings such as `500m`, `16Gi`, `1e3`) as the
//! `float64` apimachinery's `AsApproximateFloat64` gives: an integer mantissa times a
//! power of ten (exact powers as Go's `math.Pow10` computes them), binary suffixes as
//! exact multiples of powers of two.

/// The approximate value of a quantity; `None` when the text is not a quantity.
pub fn approximate(text: &str) -> Option<f64> {
    let text = text.trim();
    let (negative, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let number_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_end);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return None;
    }
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits: String = format!("{whole}{fraction}");
    let fraction_digits = i32::try_from(fraction.len()).ok()?;
    let (binary, decimal): (u32, i32) = match suffix {
        "" => (0, 0),
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        s if s.starts_with(['e', 'E']) => (0, s[1..].parse::<i32>().ok()?),
        _ => return None,
    };
    let magnitude = match digits.trim_start_matches('0').parse::<u64>() {
        Ok(m) => {
            let scaled = if binary > 0 {
                (m as f64) * f64::from(2u32).powi(binary as i32)
            } else {
                m as f64
            };
            scaled * pow10(decimal - fraction_digits)
        }
        Err(_) if digits.trim_start_matches('0').is_empty() => 0.0,
        // Too many digits for an integer: the plain float parse is close enough.
        Err(_) => {
            format!("{whole}.{fraction}").parse::<f64>().ok()?
                * pow10(decimal)
                * f64::from(2u32).powi(binary as i32)
        }
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// Go's `math.Pow10` for the exponents quantities use: `10^n`, and `1 / 10^-n` for
/// negative `n` (each correctly rounded, as Go's tables give them).
fn pow10(n: i32) -> f64 {
    if n >= 0 {
        10f64.powi(n)
    } else {
        1.0 / 10f64.powi(-n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(approximate("4"), Some(4.0));
        assert_eq!(approximate("500m"), Some(0.5));
        assert_eq!(approximate("1.5"), Some(1.5));
        assert_eq!(approximate("16Gi"), Some(17179869184.0));
        assert_eq!(approximate("2k"), Some(2000.0));
        assert_eq!(approximate("1e3"), Some(1000.0));
        assert_eq!(approximate("-2"), Some(-2.0));
        assert_eq!(approximate("0"), Some(0.0));
        assert_eq!(approximate("x"), None);
        assert_eq!(approximate("1Zi"), None);
    }
}
