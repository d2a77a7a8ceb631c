//! loadrun's contracts (Token, Disperse, Adjudicator): bindings generated from the committed
//! artifacts, deployed through the CREATE2 deployer at a fixed salt so a second run on the same
//! chain finds them and sends nothing.

use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, U256, address, keccak256};
use alloy::providers::{DynProvider, Provider};
use alloy::sol_types::SolValue;

use super::tx::{Call, Nonces, ReceiptWatch, fees, send_once, sign};
use super::{Chain, ChainError};

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    Token,
    "contracts/artifacts/Token.json"
);
alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    Disperse,
    "contracts/artifacts/Disperse.json"
);
alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    Adjudicator,
    "contracts/artifacts/Adjudicator.json"
);

/// The deterministic deployment proxy present on anvil and most public chains.
pub const CREATE2_DEPLOYER: Address = address!("4e59b44847b379578588920ca78fbf26c0b4956c");

/// Total Token supply minted to the funder: 10^12 whole tokens. Fixed so the token's address
/// depends only on the funder, and one token serves every scenario and run.
pub fn token_supply() -> U256 {
    U256::from(10u64).pow(U256::from(30u64))
}

/// The one-time signer of the deployment proxy's public pre-signed transaction.
pub const CREATE2_DEPLOYER_SIGNER: Address = address!("3fab184622dc19b6109349b94811493bf2a45362");

/// The deployment proxy's pre-signed, pre-EIP-155 transaction (nonce 0, gas price 100 gwei,
/// gas 100,000): valid on any chain that accepts unprotected transactions.
const CREATE2_DEPLOYER_TX: [u8; 167] = alloy::hex!(
    "f8a58085174876e800830186a08080b853604580600e600039806000f350fe7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe03601600081602082378035828234f58015156039578182fd5b8082525050506014600cf31ba02222222222222222222222222222222222222222222222222222222222222222a02222222222222222222222222222222222222222222222222222222222222222"
);

/// What the signer must hold to send it: 100,000 gas × 100 gwei.
pub const CREATE2_DEPLOYER_FUNDING: u128 = 10_000_000_000_000_000;

/// The CREATE2 salt: per funder, so each funder has its own Adjudicator (whose counters the
/// sanity check reads) and Disperse. Bump the tag to deploy fresh copies.
pub fn salt(funder: Address) -> B256 {
    let mut tag = b"loadrun/contracts/v1/".to_vec();
    tag.extend_from_slice(funder.as_slice());
    keccak256(tag)
}

/// Where the three contracts live for this funder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contracts {
    pub token: Address,
    pub disperse: Address,
    pub adjudicator: Address,
}

impl Contracts {
    /// The address a call's `to` names: an address, a `[contracts.NAME]`, or one of these.
    pub fn resolve(
        &self,
        scenario: &crate::scenario::Scenario,
        t: &crate::scenario::CallTarget,
    ) -> Address {
        use crate::scenario::CallTarget;
        match t {
            CallTarget::Address(a) => Address::from(*a),
            CallTarget::Named(i) => Address::from(scenario.contracts[*i].address),
            CallTarget::Token => self.token,
            CallTarget::Adjudicator => self.adjudicator,
            // The calling wallet: callers put its address in (no single address here).
            CallTarget::Sender => Address::ZERO,
        }
    }
}

/// (name, init code, gas limit) of each contract; the token's holder is the funder.
fn init_codes(funder: Address) -> [(&'static str, Bytes, u64); 3] {
    let mut token = Token::BYTECODE.to_vec();
    token.extend_from_slice(&(funder, token_supply()).abi_encode_params());
    [
        ("Token", token.into(), 1_000_000),
        ("Disperse", Disperse::BYTECODE.clone(), 1_000_000),
        ("Adjudicator", Adjudicator::BYTECODE.clone(), 2_000_000),
    ]
}

/// The CREATE2 addresses, computed without touching the chain.
pub fn addresses(funder: Address) -> Contracts {
    let [t, d, a] = init_codes(funder)
        .map(|(_, code, _)| CREATE2_DEPLOYER.create2_from_code(salt(funder), code));
    Contracts {
        token: t,
        disperse: d,
        adjudicator: a,
    }
}

/// Outcome of `ensure_deployed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    pub contracts: Contracts,
    /// Deploy transactions sent by this call (0 when every contract was already there).
    pub sent: usize,
    pub gas_used: u64,
}

async fn has_code(provider: &DynProvider, at: Address) -> Result<bool, ChainError> {
    let code = provider
        .get_code_at(at)
        .await
        .map_err(|e| ChainError::rpc(format!("code at {at}"), e))?;
    Ok(!code.is_empty())
}

type Missing = Vec<(&'static str, Bytes, u64, Address)>;

/// The contracts not yet on chain: (name, init code, gas limit, address).
async fn missing(chain: &Chain) -> Result<Missing, ChainError> {
    let mut out = Vec::new();
    for (name, code, gas) in init_codes(chain.funder.address()) {
        let at = CREATE2_DEPLOYER.create2_from_code(salt(chain.funder.address()), &code);
        if !has_code(&chain.provider, at).await? {
            out.push((name, code, gas, at));
        }
    }
    Ok(out)
}

/// What deploying the missing contracts costs at most at `max_fee` (0 when all are there):
/// their gas, plus funding and sending the CREATE2 deployer when the chain lacks it.
pub async fn deploy_cost(chain: &Chain, max_fee_per_gas: u128) -> Result<u128, ChainError> {
    let gas: u64 = missing(chain).await?.iter().map(|m| m.2).sum();
    if gas == 0 {
        return Ok(0);
    }
    let deployer = if has_code(&chain.provider, CREATE2_DEPLOYER).await? {
        0
    } else {
        CREATE2_DEPLOYER_FUNDING + 21_000 * max_fee_per_gas
    };
    Ok(u128::from(gas) * max_fee_per_gas + deployer)
}

/// Deploys the deterministic deployment proxy when the chain lacks it: funds its one-time signer
/// and broadcasts the public pre-signed transaction. Returns whether it sent anything.
pub async fn ensure_deployer(chain: &Chain, nonces: &mut Nonces) -> Result<bool, ChainError> {
    let p = &chain.provider;
    if has_code(p, CREATE2_DEPLOYER).await? {
        return Ok(false);
    }
    tracing::info!(deployer = %CREATE2_DEPLOYER, "the chain has no CREATE2 deployer; deploying it");
    let held = p
        .get_balance(CREATE2_DEPLOYER_SIGNER)
        .await
        .map_err(|e| ChainError::rpc("deployer signer balance", e))?;
    let held = u128::try_from(held).unwrap_or(u128::MAX);
    if held < CREATE2_DEPLOYER_FUNDING {
        let call = Call {
            access_list: None,
            blob: None,
            to: Some(CREATE2_DEPLOYER_SIGNER),
            value: U256::from(CREATE2_DEPLOYER_FUNDING - held),
            input: Bytes::new(),
            gas_limit: 21_000,
        };
        super::tx::send_and_wait(
            p,
            (chain.chain_id, chain.caps),
            &chain.funder,
            nonces,
            &call,
            "funding the CREATE2 deployer's signer",
        )
        .await?;
    }
    let raw = Bytes::from_static(&CREATE2_DEPLOYER_TX);
    let hash = keccak256(&raw);
    let mut watch = ReceiptWatch::start(p, chain.caps).await?;
    send_once(p, hash, &raw)
        .await
        .map_err(|e| ChainError::Create2Refused {
            why: e.message().to_string(),
            deployer: CREATE2_DEPLOYER,
        })?;
    watch
        .wait_rebroadcasting(p, &[(hash, raw)], Duration::from_secs(60))
        .await?;
    if !has_code(p, CREATE2_DEPLOYER).await? {
        return Err(ChainError::Create2Missing {
            hash: hash.to_string(),
            deployer: CREATE2_DEPLOYER,
        });
    }
    Ok(true)
}

/// Deploys whatever is missing (all in one block where the node allows) and verifies the code.
pub async fn ensure_deployed(chain: &Chain, nonces: &mut Nonces) -> Result<Deployment, ChainError> {
    let funder = chain.funder.address();
    let contracts = addresses(funder);
    let p = &chain.provider;
    let missing = missing(chain).await?;
    if missing.is_empty() {
        return Ok(Deployment {
            contracts,
            sent: 0,
            gas_used: 0,
        });
    }
    ensure_deployer(chain, nonces).await?;
    let fees = fees(p, chain.caps).await?;
    let mut watch = ReceiptWatch::start(p, chain.caps).await?;
    let mut sent = Vec::new();
    for (name, code, gas, at) in &missing {
        let mut input = salt(funder).to_vec();
        input.extend_from_slice(code);
        let call = Call {
            access_list: None,
            blob: None,
            to: Some(CREATE2_DEPLOYER),
            value: U256::ZERO,
            input: input.into(),
            gas_limit: *gas,
        };
        let nonce = nonces.next(p, funder).await?;
        let (hash, raw) = sign(&chain.funder, chain.chain_id, nonce, fees, &call)?;
        send_once(p, hash, &raw)
            .await
            .map_err(|e| ChainError::rpc(format!("deploying {name}"), e.message()))?;
        tracing::info!(contract = *name, address = %at, "deploying");
        sent.push((hash, raw));
    }
    let receipts = watch
        .wait_rebroadcasting(p, &sent, Duration::from_secs(60))
        .await?;
    let mut gas_used = 0;
    for ((name, _, _, at), (hash, _)) in missing.iter().zip(&sent) {
        let r = receipts.get(hash).ok_or_else(|| ChainError::NoReceipt {
            what: format!("deploying {name}"),
            hash: hash.to_string(),
            secs: 60,
        })?;
        gas_used += r.gas_used;
        if !r.status() || !has_code(p, *at).await? {
            return Err(ChainError::Reverted {
                what: format!("deploying {name}"),
                hash: hash.to_string(),
            });
        }
    }
    Ok(Deployment {
        contracts,
        sent: sent.len(),
        gas_used,
    })
}

/// Deploys the scenario's `[contracts]` that are not on chain yet, through the CREATE2
/// deployer from the funder (gas estimated + 20 %), and checks their code. Returns
/// (name, address, deployed now) of each.
pub async fn ensure_user(
    chain: &Chain,
    specs: &[crate::scenario::ContractSpec],
    nonces: &mut Nonces,
) -> Result<Vec<(String, Address, bool)>, ChainError> {
    let p = &chain.provider;
    let mut out = Vec::new();
    let mut todo = Vec::new();
    for s in specs {
        let at = Address::from(s.address);
        let fresh = !has_code(p, at).await?;
        out.push((s.name.clone(), at, fresh));
        if fresh {
            todo.push((s, at));
        }
    }
    if todo.is_empty() {
        return Ok(out);
    }
    ensure_deployer(chain, nonces).await?;
    let fees = fees(p, chain.caps).await?;
    let mut watch = ReceiptWatch::start(p, chain.caps).await?;
    let mut sent = Vec::new();
    for (s, at) in &todo {
        let mut input = s.salt.to_vec();
        input.extend_from_slice(&s.init_code);
        let request = alloy::rpc::types::TransactionRequest::default()
            .from(chain.funder.address())
            .to(CREATE2_DEPLOYER)
            .value(U256::from(s.value))
            .input(Bytes::from(input.clone()).into());
        let gas = p
            .estimate_gas(request)
            .await
            .map_err(|e| ChainError::DeployWouldFail {
                name: s.name.clone(),
                why: e.to_string(),
            })?;
        let call = Call {
            access_list: None,
            blob: None,
            to: Some(CREATE2_DEPLOYER),
            value: U256::from(s.value),
            input: input.into(),
            gas_limit: gas + gas / 5,
        };
        let nonce = nonces.next(p, chain.funder.address()).await?;
        let (hash, raw) = sign(&chain.funder, chain.chain_id, nonce, fees, &call)?;
        send_once(p, hash, &raw).await.map_err(|e| {
            ChainError::rpc(format!("deploying [contracts.{}]", s.name), e.message())
        })?;
        tracing::info!(contract = %s.name, address = %at, "deploying");
        sent.push((hash, raw));
    }
    let receipts = watch
        .wait_rebroadcasting(p, &sent, Duration::from_secs(60))
        .await?;
    for ((s, at), (hash, _)) in todo.iter().zip(&sent) {
        let ok = receipts.get(hash).is_some_and(|r| r.status());
        if !ok || !has_code(p, *at).await? {
            return Err(ChainError::Reverted {
                what: format!("deploying [contracts.{}]", s.name),
                hash: hash.to_string(),
            });
        }
    }
    Ok(out)
}
