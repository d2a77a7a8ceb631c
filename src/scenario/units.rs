//! Parsing of the scenario's unit-bearing strings: durations, ETH amounts, token amounts.
//!
//! Everything is exact integer arithmetic (`u128` wei, `u64` milliseconds) so that the same
//! text means the same value on every platform.

/// Wei in one gwei.
pub const GWEI: u128 = 1_000_000_000;
/// Wei in one ether; also the base units of one whole token (18 decimals).
pub const ETHER: u128 = 1_000_000_000_000_000_000;

/// Parses a humantime duration ("500ms", "30s", "5m", "1h 30s") into whole milliseconds.
/// Sub-millisecond precision is refused rather than silently rounded.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let d = humantime::parse_duration(text.trim()).map_err(|e| {
        format!("`{text}` is not a duration ({e}); write e.g. \"500ms\", \"30s\" or \"5m\"")
    })?;
    if d.subsec_nanos() % 1_000_000 != 0 {
        return Err(format!(
            "`{text}` has sub-millisecond precision; loadrun schedules in whole milliseconds"
        ));
    }
    u64::try_from(d.as_millis()).map_err(|_| format!("`{text}` is too long"))
}

/// Parses an ETH amount with a mandatory unit: "1 ether", "0.01 ether", "1 gwei", "1000 wei".
pub fn parse_wei(text: &str) -> Result<u128, String> {
    let t = text.trim();
    let (number, unit) = match t.rsplit_once(|c: char| c.is_whitespace()) {
        Some((n, u)) => (n.trim(), u),
        None => {
            // Allow "1ether" / "5gwei" written without a space.
            let split = t.find(|c: char| c.is_ascii_alphabetic()).ok_or_else(|| {
                format!("`{text}` has no unit; write e.g. \"1 ether\", \"2 gwei\" or \"1000 wei\"")
            })?;
            (&t[..split], &t[split..])
        }
    };
    let decimals = match unit.to_ascii_lowercase().as_str() {
        "wei" => 0,
        "gwei" => 9,
        "ether" | "eth" => 18,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`; use wei, gwei or ether"
            ));
        }
    };
    parse_decimal(number, decimals).map_err(|e| format!("`{text}`: {e}"))
}

/// Parses a token amount in whole tokens ("1000", "0.5") into base units of an 18-decimal token.
pub fn parse_tokens(text: &str) -> Result<u128, String> {
    let t = text.trim();
    let number = t
        .strip_suffix("tokens")
        .or_else(|| t.strip_suffix("token"))
        .unwrap_or(t)
        .trim();
    parse_decimal(number, 18).map_err(|e| {
        format!("`{text}`: {e} (token amounts are whole tokens, e.g. \"1000\" or \"0.5\")")
    })
}

/// Exact decimal → integer scaled by 10^decimals. Refuses signs, exponents and excess precision.
fn parse_decimal(number: &str, decimals: u32) -> Result<u128, String> {
    if number.is_empty() {
        return Err("missing number".into());
    }
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits_ok = |s: &str| s.chars().all(|c| c.is_ascii_digit() || c == '_');
    if int.is_empty() && frac.is_empty() || !digits_ok(int) || !digits_ok(frac) {
        return Err(format!("`{number}` is not a non-negative decimal number"));
    }
    let frac: String = frac.chars().filter(|c| *c != '_').collect();
    let frac = frac.trim_end_matches('0');
    if frac.len() > decimals as usize {
        return Err(format!(
            "more than {decimals} decimal places; use a smaller unit"
        ));
    }
    let overflow = || "amount is too large".to_string();
    let mut value: u128 = 0;
    for c in int.chars().filter(|c| *c != '_') {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u128::from(c as u8 - b'0')))
            .ok_or_else(overflow)?;
    }
    value = value
        .checked_mul(10u128.pow(decimals))
        .ok_or_else(overflow)?;
    let mut frac_value: u128 = 0;
    for c in frac.chars() {
        frac_value = frac_value * 10 + u128::from(c as u8 - b'0');
    }
    frac_value *= 10u128.pow(decimals - frac.len() as u32);
    value.checked_add(frac_value).ok_or_else(overflow)
}

/// Formats wei as a short human string ("1.5 ether", "20 gwei", "7 wei") for messages.
pub fn format_wei(wei: u128) -> String {
    if wei >= ETHER / 1000 {
        format!("{} ether", format_scaled(wei, 18))
    } else if wei >= GWEI {
        format!("{} gwei", format_scaled(wei, 9))
    } else {
        format!("{wei} wei")
    }
}

/// An amount for people: ether, gwei or wei, whichever reads best, to 3 significant digits
/// (`0.000648 ether`, `3.2 gwei`, `72 ether`). Not for values a user must copy: use `format_wei`.
pub fn format_amount(wei: u128) -> String {
    let (value, unit) = if wei >= ETHER / 1_000_000 {
        (wei as f64 / ETHER as f64, "ether")
    } else if wei >= GWEI / 10 {
        (wei as f64 / GWEI as f64, "gwei")
    } else {
        return format!("{wei} wei");
    };
    format!("{} {unit}", significant(value, 3))
}

/// Whole tokens (18 decimals) for people, like `format_amount`.
pub fn format_tokens(units: u128) -> String {
    significant(units as f64 / ETHER as f64, 3)
}

fn significant(v: f64, digits: i32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let magnitude = v.abs().log10().floor() as i32;
    let decimals = (digits - 1 - magnitude).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `value / 10^decimals` as an exact decimal string without trailing zeros.
pub fn format_scaled(value: u128, decimals: u32) -> String {
    let scale = 10u128.pow(decimals);
    let int = value / scale;
    let frac = value % scale;
    if frac == 0 {
        return int.to_string();
    }
    let frac = format!("{frac:0width$}", width = decimals as usize);
    format!("{int}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_for_people() {
        assert_eq!(format_amount(648_472_317_073_254), "0.000648 ether");
        assert_eq!(format_amount(3_200_000_000), "3.2 gwei");
        assert_eq!(format_amount(72_003_740_664_001_870_332), "72 ether");
        assert_eq!(format_amount(10 * ETHER), "10 ether");
        assert_eq!(format_amount(1_234_567 * ETHER), "1234567 ether");
        assert_eq!(format_amount(21), "21 wei");
        assert_eq!(format_tokens(18_000 * ETHER), "18000");
        assert_eq!(format_tokens(ETHER / 3), "0.333");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("500ms"), Ok(500));
        assert_eq!(parse_duration_ms("30s"), Ok(30_000));
        assert_eq!(parse_duration_ms("5m"), Ok(300_000));
        assert!(
            parse_duration_ms("1us")
                .unwrap_err()
                .contains("sub-millisecond")
        );
        assert!(
            parse_duration_ms("soon")
                .unwrap_err()
                .contains("is not a duration")
        );
    }

    #[test]
    fn wei_amounts() {
        assert_eq!(parse_wei("1 ether"), Ok(ETHER));
        assert_eq!(parse_wei("0.01 ether"), Ok(ETHER / 100));
        assert_eq!(parse_wei("1 gwei"), Ok(GWEI));
        assert_eq!(parse_wei("1000 wei"), Ok(1000));
        assert_eq!(parse_wei("2gwei"), Ok(2 * GWEI));
        assert_eq!(parse_wei("1_000 gwei"), Ok(1000 * GWEI));
        assert!(parse_wei("1").unwrap_err().contains("no unit"));
        assert!(
            parse_wei("1 btc")
                .unwrap_err()
                .contains("unknown unit `btc`")
        );
        assert!(parse_wei("0.5 wei").unwrap_err().contains("decimal places"));
        assert!(parse_wei("-1 ether").unwrap_err().contains("non-negative"));
        assert!(parse_wei("1e3 wei").unwrap_err().contains("non-negative"));
        assert!(
            parse_wei("999999999999999999999 ether")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn token_amounts() {
        assert_eq!(parse_tokens("1000"), Ok(1000 * ETHER));
        assert_eq!(parse_tokens("0.5"), Ok(ETHER / 2));
        assert_eq!(parse_tokens("3 tokens"), Ok(3 * ETHER));
        assert!(parse_tokens("lots").unwrap_err().contains("whole tokens"));
    }

    #[test]
    fn formatting() {
        assert_eq!(format_wei(ETHER * 3 / 2), "1.5 ether");
        assert_eq!(format_wei(20 * GWEI), "20 gwei");
        assert_eq!(format_wei(7), "7 wei");
    }
}
