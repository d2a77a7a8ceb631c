//! Calling a contract's view once (for `[[expect.view]]` and `[[setup]]`'s `unless`): the
//! arguments coerced to the function's types, the first output decoded.

use alloy::dyn_abi::{DynSolValue, FunctionExt, JsonAbiExt};
use alloy::json_abi::Function;
use alloy::primitives::{Address, Bytes};
use alloy::providers::Provider;

use super::Chain;
use crate::scenario::coerce_arg;

/// How a view's result compares with the expected value of its type: numbers by value (signed
/// ones as signed), anything else only as equal or not (`None`: different).
pub fn compare(got: &DynSolValue, want: &DynSolValue) -> Option<std::cmp::Ordering> {
    match (got, want) {
        (DynSolValue::Uint(a, _), DynSolValue::Uint(b, _)) => Some(a.cmp(b)),
        (DynSolValue::Int(a, _), DynSolValue::Int(b, _)) => Some(a.cmp(b)),
        _ => (got == want).then_some(std::cmp::Ordering::Equal),
    }
}

/// Calls `signature` on `to` with `args`; the function and its first output.
pub async fn call(
    chain: &Chain,
    to: Address,
    signature: &str,
    args: &[String],
) -> Result<(Function, DynSolValue), String> {
    let f = Function::parse(signature).map_err(|e| e.to_string())?;
    let values = f
        .inputs
        .iter()
        .zip(args)
        .map(|(i, a)| coerce_arg(&i.selector_type(), a))
        .collect::<Option<Vec<_>>>()
        .ok_or("bad arguments")?;
    let input = f.abi_encode_input(&values).map_err(|e| e.to_string())?;
    let request = alloy::rpc::types::TransactionRequest::default()
        .to(to)
        .input(Bytes::from(input).into());
    let raw = chain
        .provider
        .call(request)
        .await
        .map_err(|e| e.to_string())?;
    let mut got = f.abi_decode_output(&raw).map_err(|e| e.to_string())?;
    let first = got.drain(..).next().ok_or("no output")?;
    Ok((f, first))
}
