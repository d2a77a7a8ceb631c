//! `[contracts.NAME]`: reads each artifact (or bytecode + ABI file, relative to the scenario
//! file), encodes the constructor arguments, and computes the CREATE2 address the funder will
//! deploy it at (salt from name + init code, so the address is known at plan time and a re-run
//! reuses the contract).

use std::path::Path;

use alloy::dyn_abi::{DynSolValue, JsonAbiExt};
use alloy::json_abi::JsonAbi;
use alloy::primitives::{Address, address, keccak256};

use super::Ctx;
use crate::scenario::ContractSpec;
use crate::scenario::diag::KeyPath;
use crate::scenario::raw::RawContract;

/// The deterministic deployment proxy (also `chain::contracts::CREATE2_DEPLOYER`).
const CREATE2_DEPLOYER: Address = address!("4e59b44847b379578588920ca78fbf26c0b4956c");

/// The CREATE2 salt of a user contract: its name and init code.
pub fn user_salt(name: &str, init_code: &[u8]) -> [u8; 32] {
    let mut tag = b"loadrun/user-contract/v1/".to_vec();
    tag.extend_from_slice(name.as_bytes());
    tag.push(0);
    tag.extend_from_slice(init_code);
    keccak256(tag).0
}

fn read(cx: &mut Ctx, path: KeyPath, base: &Path, file: &str) -> Option<String> {
    let p = base.join(file);
    match std::fs::read_to_string(&p) {
        Ok(t) => Some(t),
        Err(e) => {
            cx.err(
                path,
                format!("cannot read {}: {e}", p.display()),
                Some("give a path relative to the scenario file (e.g. out/Foo.sol/Foo.json from `forge build`)".into()),
            );
            None
        }
    }
}

fn hex(s: &str) -> Option<Vec<u8>> {
    alloy::hex::decode(s.trim()).ok().filter(|b| !b.is_empty())
}

/// ABI and creation bytecode of a Foundry (`bytecode.object`) or Hardhat (`bytecode`) artifact.
fn artifact(text: &str) -> Result<(JsonAbi, Vec<u8>), String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let abi: JsonAbi =
        serde_json::from_value(v["abi"].clone()).map_err(|e| format!("no usable `abi`: {e}"))?;
    let code = v["bytecode"]["object"]
        .as_str()
        .or_else(|| v["bytecode"].as_str())
        .ok_or("no `bytecode.object` (Foundry) or `bytecode` (Hardhat)")?;
    let code =
        hex(code).ok_or("its bytecode is empty or not hex (an interface or abstract contract?)")?;
    Ok((abi, code))
}

/// Validates `[contracts]`: each contract's code, ABI, value and constructor arguments, and the
/// address it will be deployed at. A contract with an error is left out (and reported).
pub fn validate(
    cx: &mut Ctx,
    base: &Path,
    raw: &std::collections::BTreeMap<String, RawContract>,
) -> Vec<ContractSpec> {
    raw.iter()
        .filter_map(|(name, c)| contract(cx, base, name, c))
        .collect()
}

/// One `[contracts.NAME]`, checked in order; the first error ends its checks.
fn contract(cx: &mut Ctx, base: &Path, name: &str, c: &RawContract) -> Option<ContractSpec> {
    let path = KeyPath::root().key("contracts").key(name);
    if name == "token" || name == "adjudicator" || name.starts_with("0x") {
        cx.err(
            path.clone(),
            format!("`{name}` is reserved (loadrun's own contracts, or an address)"),
            Some("give the contract another name".into()),
        );
        return None;
    }
    let (abi, code) = abi_and_code(cx, &path, base, c)?;
    let value = match &c.value {
        Some(v) => cx.wei(path.key("value"), v)?,
        None => 0,
    };
    let values = constructor_values(cx, &path, abi.as_ref(), &c.args)?;
    let mut init_code = code;
    if let Some(k) = abi.as_ref().and_then(|a| a.constructor.as_ref()) {
        match k.abi_encode_input(&values) {
            Ok(enc) => init_code.extend_from_slice(&enc),
            Err(e) => {
                cx.err(path.key("args"), format!("cannot encode: {e}"), None);
                return None;
            }
        }
    }
    let salt = user_salt(name, &init_code);
    let address = CREATE2_DEPLOYER.create2_from_code(salt, &init_code);
    Some(ContractSpec {
        name: name.to_string(),
        init_code,
        salt,
        abi,
        value,
        address: address.0.0,
    })
}

/// The ABI (if known) and creation bytecode: from `artifact`, or from `bytecode` with an
/// optional `abi` file — exactly one of the two.
fn abi_and_code(
    cx: &mut Ctx,
    path: &KeyPath,
    base: &Path,
    c: &RawContract,
) -> Option<(Option<JsonAbi>, Vec<u8>)> {
    match (&c.artifact, &c.bytecode) {
        (Some(a), None) => {
            let text = read(cx, path.key("artifact"), base, a)?;
            match artifact(&text) {
                Ok((abi, code)) => Some((Some(abi), code)),
                Err(e) => {
                    cx.err(path.key("artifact"), format!("{a}: {e}"), None);
                    None
                }
            }
        }
        (None, Some(b)) => {
            let Some(code) = hex(b) else {
                cx.err(path.key("bytecode"), "not 0x hex creation bytecode", None);
                return None;
            };
            let abi = match &c.abi {
                None => None,
                Some(f) => Some(abi_file(cx, path, base, f)?),
            };
            Some((abi, code))
        }
        _ => {
            cx.err(
                path.clone(),
                "give exactly one of `artifact` and `bytecode`",
                Some("artifact = \"out/Foo.sol/Foo.json\"".into()),
            );
            None
        }
    }
}

/// The JSON ABI file `file` (relative to the scenario file).
fn abi_file(cx: &mut Ctx, path: &KeyPath, base: &Path, file: &str) -> Option<JsonAbi> {
    let text = read(cx, path.key("abi"), base, file)?;
    match serde_json::from_str::<JsonAbi>(&text) {
        Ok(a) => Some(a),
        Err(e) => {
            cx.err(
                path.key("abi"),
                format!("{file} is not a JSON ABI: {e}"),
                None,
            );
            None
        }
    }
}

/// Constructor arguments, typed by the ABI (without one, none are allowed); `None` unless every
/// one is valid.
fn constructor_values(
    cx: &mut Ctx,
    path: &KeyPath,
    abi: Option<&JsonAbi>,
    args: &[String],
) -> Option<Vec<DynSolValue>> {
    let inputs = abi
        .and_then(|a| a.constructor.clone())
        .map(|k| k.inputs)
        .unwrap_or_default();
    if inputs.len() != args.len() {
        cx.err(
            path.key("args"),
            format!(
                "the constructor takes {} argument(s) but args has {}",
                inputs.len(),
                args.len()
            ),
            None,
        );
        return None;
    }
    let mut values = Vec::new();
    for (i, (input, arg)) in inputs.iter().zip(args).enumerate() {
        match crate::scenario::coerce_arg(&input.selector_type(), arg) {
            Some(v) => values.push(v),
            None => cx.err(
                path.key("args").index(i),
                format!("\"{arg}\" is not a valid {}", input.selector_type()),
                None,
            ),
        }
    }
    (values.len() == inputs.len()).then_some(values)
}
