//! Argument templates of `call` workloads (`{sender}`, `{peer}`, `{step}`, `{uint:LO..HI}`,
//! `{int:LO..HI}`, `{pick:a|b}`, `{bytes:N}`, `{amount:LO..HI unit}`): parsed and type-checked
//! against the function's parameter at validation; resolved at plan time (`plan::args`).

use super::coerce_arg;
use super::units::parse_wei;

/// One argument: a literal, or a template filled in per step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgSpec {
    Literal(String),
    /// The calling wallet's address.
    Sender,
    /// A random wallet of the workload's `peers` role.
    Peer,
    /// The step's index in the plan.
    Step,
    /// Uniform integer in `lo..=hi`.
    Uint(u128, u128),
    Int(i128, i128),
    /// One of the options, uniformly.
    Pick(Vec<String>),
    /// N random bytes, as 0x hex.
    Bytes(usize),
    /// Uniform wei in `lo..=hi`.
    Amount(u128, u128),
}

impl ArgSpec {
    /// Whether the value changes per step (a literal does not).
    pub fn varies(&self) -> bool {
        !matches!(self, Self::Literal(_))
    }
}

/// Parses `arg` for a parameter of Solidity type `ty`; the error says what is wrong and how to
/// write it.
pub fn parse(ty: &str, arg: &str, contracts: &[super::ContractSpec]) -> Result<ArgSpec, String> {
    let Some(inner) = arg.strip_prefix('{').and_then(|a| a.strip_suffix('}')) else {
        return coerce_arg(ty, arg)
            .map(|_| ArgSpec::Literal(arg.to_string()))
            .ok_or_else(|| format!("\"{arg}\" is not a valid {ty}"));
    };
    let (name, param) = inner.split_once(':').unwrap_or((inner, ""));
    let t = Template { ty, name, param };
    match name {
        "sender" | "peer" => t.party(),
        "step" => {
            t.need(t.bits("uint").is_some(), "an unsigned integer")?;
            Ok(ArgSpec::Step)
        }
        "uint" | "amount" => t.unsigned(),
        "int" => t.signed(),
        "pick" => t.pick(),
        "bytes" => t.bytes(),
        "contract" => t.contract(contracts),
        _ => Err(format!(
            "{{{name}}} is not a template: use {{sender}}, {{peer}}, {{step}}, {{uint:LO..HI}}, {{int:LO..HI}}, {{pick:a|b}}, {{bytes:N}} or {{amount:LO..HI unit}}"
        )),
    }
}

/// A `{name:param}` template written for a parameter of Solidity type `ty`.
struct Template<'a> {
    ty: &'a str,
    name: &'a str,
    param: &'a str,
}

impl Template<'_> {
    /// The bit width of `ty` if it is `prefix` (`uint`, `int`) with or without a width.
    fn bits(&self, prefix: &str) -> Option<u32> {
        let rest = self.ty.strip_prefix(prefix)?;
        if rest.is_empty() {
            Some(256)
        } else {
            rest.parse().ok()
        }
    }

    /// Fails, saying the template makes `what`, unless the parameter takes it (`ok`).
    fn need(&self, ok: bool, what: &str) -> Result<(), String> {
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{{{}}} makes {what}, but the parameter is a {}",
                self.name, self.ty
            ))
        }
    }

    /// `{sender}` or `{peer}`: an address.
    fn party(&self) -> Result<ArgSpec, String> {
        self.need(self.ty == "address", "an address")?;
        Ok(if self.name == "sender" {
            ArgSpec::Sender
        } else {
            ArgSpec::Peer
        })
    }

    /// `{uint:LO..HI}` or `{amount:LO..HI unit}`: a range that fits the unsigned type.
    fn unsigned(&self) -> Result<ArgSpec, String> {
        let (ty, name, param) = (self.ty, self.name, self.param);
        let b = self.bits("uint");
        self.need(b.is_some(), "an unsigned integer")?;
        let (lo, hi) = if name == "uint" {
            range(param, |s| {
                s.trim().parse::<u128>().map_err(|e| e.to_string())
            })?
        } else {
            amount_range(param)?
        };
        let max = match b {
            Some(b) if b < 128 => (1u128 << b) - 1,
            _ => u128::MAX,
        };
        if hi > max {
            return Err(format!(
                "{{{name}:{param}}}: {hi} does not fit in a {ty} (at most {max})"
            ));
        }
        Ok(if name == "uint" {
            ArgSpec::Uint(lo, hi)
        } else {
            ArgSpec::Amount(lo, hi)
        })
    }

    /// `{int:LO..HI}`: a range that fits the signed type.
    fn signed(&self) -> Result<ArgSpec, String> {
        let (ty, param) = (self.ty, self.param);
        let b = self.bits("int");
        self.need(b.is_some(), "a signed integer")?;
        let (lo, hi) = range(param, |s| {
            s.trim().parse::<i128>().map_err(|e| e.to_string())
        })?;
        let b = b.unwrap_or(256).min(128);
        let (min, max) = if b == 128 {
            (i128::MIN, i128::MAX)
        } else {
            (-(1i128 << (b - 1)), (1i128 << (b - 1)) - 1)
        };
        if lo < min || hi > max {
            return Err(format!(
                "{{int:{param}}}: does not fit in a {ty} ({min}..{max})"
            ));
        }
        Ok(ArgSpec::Int(lo, hi))
    }

    /// `{pick:a|b}`: options, each a valid value of the type.
    fn pick(&self) -> Result<ArgSpec, String> {
        let (ty, param) = (self.ty, self.param);
        let options: Vec<String> = param.split('|').map(str::to_string).collect();
        if param.is_empty() {
            return Err("{pick:…} needs options, e.g. {pick:1|2|3}".into());
        }
        if let Some(bad) = options.iter().find(|o| coerce_arg(ty, o).is_none()) {
            return Err(format!("{{pick:{param}}}: \"{bad}\" is not a valid {ty}"));
        }
        Ok(ArgSpec::Pick(options))
    }

    /// `{bytes:N}`: exactly N for a `bytesN`, at most 256 for `bytes`.
    fn bytes(&self) -> Result<ArgSpec, String> {
        let (ty, param) = (self.ty, self.param);
        let n: usize = param
            .trim()
            .parse()
            .map_err(|_| format!("{{bytes:{param}}}: give a byte count, e.g. {{bytes:32}}"))?;
        let fixed = ty
            .strip_prefix("bytes")
            .and_then(|r| r.parse::<usize>().ok());
        let ok = match fixed {
            Some(k) => k == n,
            // Held per step in the plan: kept small.
            None => ty == "bytes" && n <= 256,
        };
        self.need(ok, &format!("{n} bytes"))?;
        Ok(ArgSpec::Bytes(n))
    }

    /// `{contract:NAME}`: the address of a `[contracts.NAME]`, as a literal.
    fn contract(&self, contracts: &[super::ContractSpec]) -> Result<ArgSpec, String> {
        let param = self.param;
        self.need(self.ty == "address", "an address")?;
        let Some(k) = contracts.iter().find(|k| k.name == param) else {
            let names: Vec<&str> = contracts.iter().map(|k| k.name.as_str()).collect();
            return Err(format!(
                "{{contract:{param}}}: no [contracts.{param}] (the scenario has: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ));
        };
        Ok(ArgSpec::Literal(
            alloy::primitives::Address::from(k.address).to_checksum(None),
        ))
    }
}

/// `LO..HI` (inclusive), LO <= HI.
fn range<T: PartialOrd + Copy + std::fmt::Display>(
    param: &str,
    num: impl Fn(&str) -> Result<T, String>,
) -> Result<(T, T), String> {
    let (a, b) = param
        .split_once("..")
        .ok_or_else(|| format!("`{param}` is not a range: write LO..HI, e.g. 1..100"))?;
    let (lo, hi) = (
        num(a).map_err(|e| format!("`{a}`: {e}"))?,
        num(b).map_err(|e| format!("`{b}`: {e}"))?,
    );
    if lo > hi {
        return Err(format!("the range {lo}..{hi} is empty: LO must be <= HI"));
    }
    Ok((lo, hi))
}

/// `LO..HI unit`, e.g. `1..5 gwei` or `0.1..0.5 ether`, as wei.
fn amount_range(param: &str) -> Result<(u128, u128), String> {
    let (bounds, unit) = param
        .trim()
        .rsplit_once(' ')
        .ok_or_else(|| format!("`{param}` needs a unit: e.g. {{amount:1..5 gwei}}"))?;
    range(bounds, |s| parse_wei(&format!("{} {unit}", s.trim())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_and_check_their_type() {
        assert_eq!(
            parse("uint8", "{uint:1..100}", &[]),
            Ok(ArgSpec::Uint(1, 100))
        );
        assert!(
            parse("uint8", "{uint:1..300}", &[])
                .unwrap_err()
                .contains("does not fit")
        );
        assert_eq!(parse("int16", "{int:-5..5}", &[]), Ok(ArgSpec::Int(-5, 5)));
        assert_eq!(parse("address", "{peer}", &[]), Ok(ArgSpec::Peer));
        assert!(
            parse("uint256", "{sender}", &[])
                .unwrap_err()
                .contains("makes an address")
        );
        assert_eq!(
            parse("uint256", "{amount:1..2 gwei}", &[]),
            Ok(ArgSpec::Amount(1_000_000_000, 2_000_000_000))
        );
        assert_eq!(parse("bytes32", "{bytes:32}", &[]), Ok(ArgSpec::Bytes(32)));
        assert!(parse("bytes32", "{bytes:4}", &[]).is_err());
        assert!(
            parse("uint256", "{pick:1|x}", &[])
                .unwrap_err()
                .contains("\"x\"")
        );
        assert!(
            parse("uint256", "{uint:9..1}", &[])
                .unwrap_err()
                .contains("empty")
        );
        assert!(
            parse("uint256", "{nope}", &[])
                .unwrap_err()
                .contains("not a template")
        );
        assert_eq!(parse("uint256", "7", &[]), Ok(ArgSpec::Literal("7".into())));
    }
}
