//! The Adjudicator on a real anvil through loadrun's own signing path: deposits, cooperative
//! close paying both sides exactly, forged/reused/stale states rejected, ledger channels.

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::Provider;
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use loadrun::chain::contracts::{Adjudicator, ensure_deployed};
use loadrun::chain::tx::{Call, Nonces, send_and_wait};
use loadrun::chain::{Chain, ChainError, connect};
use loadrun::scenario::ChainConfig;

const ETH: u128 = 1_000_000_000_000_000_000;

struct Env {
    chain: Chain,
    adj: Address,
    a: PrivateKeySigner,
    b: PrivateKeySigner,
    nonces: Nonces,
}

async fn env() -> Env {
    let chain = connect(&ChainConfig::default(), None, None).await.unwrap();
    let mut nonces = Nonces::default();
    let adj = ensure_deployed(&chain, &mut nonces)
        .await
        .unwrap()
        .contracts
        .adjudicator;
    let a = loadrun::wallets::derive(1, "A", 0);
    let b = loadrun::wallets::derive(1, "B", 0);
    let mut e = Env {
        chain,
        adj,
        a,
        b,
        nonces,
    };
    for to in [e.a.address(), e.b.address()] {
        let funder = e.chain.funder.clone();
        e.send(&funder, Some(to), 10 * ETH, Bytes::new(), 21_000)
            .await
            .unwrap();
    }
    e
}

impl Env {
    async fn send(
        &mut self,
        from: &PrivateKeySigner,
        to: Option<Address>,
        value: u128,
        input: Bytes,
        gas_limit: u64,
    ) -> Result<u128, ChainError> {
        let call = Call {
            access_list: None,
            blob: None,
            to,
            value: U256::from(value),
            input,
            gas_limit,
        };
        let r = send_and_wait(
            &self.chain.provider,
            (self.chain.chain_id, self.chain.caps),
            from,
            &mut self.nonces,
            &call,
            "test call",
        )
        .await?;
        Ok(u128::from(r.gas_used) * r.effective_gas_price)
    }

    async fn call(
        &mut self,
        from: &PrivateKeySigner,
        value: u128,
        input: Vec<u8>,
    ) -> Result<(), ChainError> {
        let adj = self.adj;
        self.send(from, Some(adj), value, input.into(), 300_000)
            .await
            .map(|_| ())
    }

    async fn open(&mut self, salt: u8, value: u128, ledger: bool) -> B256 {
        let salt = B256::with_last_byte(salt);
        let (a, b) = (self.a.clone(), self.b.clone());
        let input = Adjudicator::openCall {
            peer: b.address(),
            salt,
            ledger,
        }
        .abi_encode();
        self.call(&a, value, input).await.unwrap();
        self.contract()
            .channelId(a.address(), b.address(), salt)
            .call()
            .await
            .unwrap()
    }

    fn contract(&self) -> Adjudicator::AdjudicatorInstance<&alloy::providers::DynProvider> {
        Adjudicator::new(self.adj, &self.chain.provider)
    }

    /// Both parties' EIP-191 signatures over the state.
    async fn sign(&self, id: B256, nonce: u64, bal_a: u128, bal_b: u128) -> (Bytes, Bytes) {
        let h = self
            .contract()
            .stateHash(id, nonce, U256::from(bal_a), U256::from(bal_b))
            .call()
            .await
            .unwrap();
        let s = |k: &PrivateKeySigner| {
            Bytes::from(
                k.sign_message_sync(h.as_slice())
                    .unwrap()
                    .as_bytes()
                    .to_vec(),
            )
        };
        (s(&self.a), s(&self.b))
    }

    fn close(id: B256, nonce: u64, a: u128, b: u128, sigs: (Bytes, Bytes)) -> Vec<u8> {
        Adjudicator::closeCall {
            id,
            nonce,
            balA: U256::from(a),
            balB: U256::from(b),
            sigA: sigs.0,
            sigB: sigs.1,
        }
        .abi_encode()
    }

    async fn balance(&self, who: Address) -> u128 {
        self.chain.provider.get_balance(who).await.unwrap().to()
    }

    async fn holdings(&self) -> u128 {
        self.contract().holdings().call().await.unwrap().to()
    }
}

#[tokio::test]
async fn deposit_then_cooperative_close_pays_both_sides_exactly() {
    let mut e = env().await;
    let id = e.open(1, ETH, false).await;
    let b = e.b.clone();
    e.call(&b, ETH / 2, Adjudicator::depositCall { id }.abi_encode())
        .await
        .unwrap();
    // loadrun's off-chain hashing matches the contract's.
    let d = loadrun::exec::states::Domain {
        adjudicator: e.adj,
        chain_id: e.chain.chain_id,
    };
    let st = loadrun::exec::states::State {
        channel: id,
        nonce: 9,
        bal_a: 1,
        bal_b: 2,
    };
    let on_chain = e
        .contract()
        .stateHash(id, 9, U256::from(1), U256::from(2))
        .call()
        .await
        .unwrap();
    assert_eq!(d.state_hash(&st), on_chain);
    let salt = B256::with_last_byte(1);
    assert_eq!(
        d.channel_id(e.a.address(), e.b.address(), salt),
        e.contract()
            .channelId(e.a.address(), e.b.address(), salt)
            .call()
            .await
            .unwrap()
    );
    let ch = e.contract().getChannel(id).call().await.unwrap();
    assert_eq!(ch.holding, U256::from(ETH * 3 / 2));
    assert_eq!(e.holdings().await, ETH * 3 / 2);
    let (a0, b0) = (
        e.balance(e.a.address()).await,
        e.balance(e.b.address()).await,
    );
    // A third party (the funder) submits, so A's and B's balances move by the payouts only.
    let sigs = e.sign(id, 3, ETH / 5, ETH * 13 / 10).await;
    let funder = e.chain.funder.clone();
    e.call(&funder, 0, Env::close(id, 3, ETH / 5, ETH * 13 / 10, sigs))
        .await
        .unwrap();
    assert_eq!(e.balance(e.a.address()).await - a0, ETH / 5);
    assert_eq!(e.balance(e.b.address()).await - b0, ETH * 13 / 10);
    assert_eq!(e.holdings().await, 0);
    assert_eq!(e.contract().status(id).call().await.unwrap(), 2, "Closed");
    assert_eq!(
        e.contract().closedChannels().call().await.unwrap(),
        U256::from(1)
    );
}

#[tokio::test]
async fn forged_reused_and_stale_states_revert() {
    let mut e = env().await;
    let funder = e.chain.funder.clone();
    let id = e.open(2, ETH, false).await;
    let other = e.open(3, ETH, false).await;
    // Wrong signature: A's slot signed by B.
    let (sa, sb) = e.sign(id, 1, ETH, 0).await;
    let forged = Env::close(id, 1, ETH, 0, (sb.clone(), sb.clone()));
    let err = e.call(&funder, 0, forged).await.unwrap_err();
    assert!(matches!(err, ChainError::Reverted { .. }), "{err}");
    // A state of another channel is not valid here.
    let sigs_other = e.sign(other, 1, ETH, 0).await;
    let err = e
        .call(&funder, 0, Env::close(id, 1, ETH, 0, sigs_other))
        .await
        .unwrap_err();
    assert!(matches!(err, ChainError::Reverted { .. }), "{err}");
    // Balances that do not add up to the holding.
    let sigs = e.sign(id, 1, ETH, 1).await;
    assert!(
        e.call(&funder, 0, Env::close(id, 1, ETH, 1, sigs))
            .await
            .is_err()
    );
    // Checkpoint nonce 5, then an older state is stale.
    let s5 = e.sign(id, 5, ETH / 2, ETH / 2).await;
    let checkpoint = Adjudicator::checkpointCall {
        id,
        nonce: 5,
        balA: U256::from(ETH / 2),
        balB: U256::from(ETH / 2),
        sigA: s5.0.clone(),
        sigB: s5.1.clone(),
    }
    .abi_encode();
    e.call(&funder, 0, checkpoint).await.unwrap();
    let err = e
        .call(&funder, 0, Env::close(id, 1, ETH, 0, (sa, sb)))
        .await
        .unwrap_err();
    assert!(matches!(err, ChainError::Reverted { .. }), "{err}");
    // The checkpointed state closes; replaying it afterwards reverts.
    e.call(&funder, 0, Env::close(id, 5, ETH / 2, ETH / 2, s5.clone()))
        .await
        .unwrap();
    let err = e
        .call(&funder, 0, Env::close(id, 5, ETH / 2, ETH / 2, s5))
        .await
        .unwrap_err();
    assert!(matches!(err, ChainError::Reverted { .. }), "{err}");
    assert_eq!(e.holdings().await, ETH, "only `other` is still open");
}

#[tokio::test]
async fn ledger_funds_app_channels_off_chain_and_settles_on_chain() {
    let mut e = env().await;
    let funder = e.chain.funder.clone();
    let direct = e.open(4, ETH / 4, false).await;
    let ledger = e.open(5, 2 * ETH, true).await;
    assert_eq!(
        e.contract().openLedgers().call().await.unwrap(),
        U256::from(1)
    );
    assert_eq!(
        e.contract().openChannels().call().await.unwrap(),
        U256::from(2)
    );
    assert_eq!(
        e.holdings().await,
        ETH / 4 + 2 * ETH,
        "holdings = open channels' deposits"
    );
    // Off chain: the ledger allocates 0.5 to an app channel (ledger state 1 = A 1.5, B 0 + 0.5
    // locked); the app channel moves 0.3 to B and closes back into the ledger (state 2).
    // Both states are signed by both parties; only the last one goes on chain.
    let _allocated = e.sign(ledger, 1, ETH * 3 / 2, 0).await;
    let settled = e.sign(ledger, 2, ETH * 17 / 10, ETH * 3 / 10).await;
    let (a0, b0) = (
        e.balance(e.a.address()).await,
        e.balance(e.b.address()).await,
    );
    e.call(
        &funder,
        0,
        Env::close(ledger, 2, ETH * 17 / 10, ETH * 3 / 10, settled),
    )
    .await
    .unwrap();
    assert_eq!(e.balance(e.a.address()).await - a0, ETH * 17 / 10);
    assert_eq!(e.balance(e.b.address()).await - b0, ETH * 3 / 10);
    assert_eq!(e.contract().openLedgers().call().await.unwrap(), U256::ZERO);
    assert_eq!(
        e.contract().closedLedgers().call().await.unwrap(),
        U256::from(1)
    );
    assert_eq!(
        e.holdings().await,
        ETH / 4,
        "the direct channel is still open"
    );
    assert_eq!(e.contract().status(direct).call().await.unwrap(), 1, "Open");
}
