//! Recovery of transactions the node dropped or left stuck, for the receipt watcher: which stale transactions to look up (each wallet's lowest nonces first, in nonce
//! order), re-sending the same bytes or re-signing a priced-out nonce, and failing at once the
//! transactions waiting behind a refused nonce no later step will fill.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use alloy::primitives::{Address, B256, Bytes};
use alloy::providers::{DynProvider, Provider};
use tokio::sync::mpsc;

use super::msg::{ActorMsg, Ctx, TxReport, TxResult};
use super::watched::{Resign, Watched};
use crate::chain::tx::{ErrorClass, Fees, SendError, send_once, send_raw, sign};

/// A transaction pending this long is looked up; if the node no longer knows it, it is re-sent.
pub const RESEND_AFTER_MS: f64 = 3_000.0;
/// How often, and for how many transactions at most, that check runs.
pub const RESEND_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
const RESEND_BATCH: usize = 200;
/// Re-signings of one transaction at a higher fee, at most.
const MAX_REPLACEMENTS: u32 = 5;

/// What the recovery task reports back.
pub enum Recovery {
    /// The node dropped it and refused the same bytes again: why (explains a timeout).
    Refused(B256, String),
    /// Re-signed at a higher fee and accepted.
    Replaced {
        old: B256,
        new: B256,
        raw: Bytes,
        fees: Fees,
    },
}

/// A pending transaction as the recovery task needs it.
pub struct Stale {
    hash: B256,
    raw: Bytes,
    fees: Fees,
    resign: Resign,
    resent: u32,
}

/// The pending transactions older than `RESEND_AFTER_MS`, at most `RESEND_BATCH`, each wallet's
/// lowest nonces first (a gap is repaired from its bottom) and in nonce order within a wallet
/// (re-sends never overtake each other).
pub fn stale_in_order(pending: &HashMap<B256, Watched>, now: f64) -> Vec<Stale> {
    let stale: Vec<&Watched> = pending
        .values()
        .filter(|w| now - w.sent_ms > RESEND_AFTER_MS)
        .collect();
    let keys: Vec<(Address, u64)> = stale
        .iter()
        .map(|w| (w.resign.signer.address(), w.resign.nonce))
        .collect();
    resend_order(&keys, RESEND_BATCH)
        .into_iter()
        .map(|i| {
            let w = stale[i];
            Stale {
                hash: w.hash,
                raw: w.raw.clone(),
                fees: w.fees,
                resign: w.resign.clone(),
                resent: w.resent,
            }
        })
        .collect()
}

/// Which of `keys` (sender, nonce) to look up, at most `max`: round-robin over the senders from
/// each one's lowest nonce, so every stuck wallet's gap is reached first; returned sorted by
/// sender, then nonce (the order they are re-sent in).
fn resend_order<K: Ord + Copy>(keys: &[(K, u64)], max: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..keys.len()).collect();
    idx.sort_by_key(|&i| keys[i]);
    // Rank of each within its sender (0 = its lowest nonce).
    let mut rank = vec![0usize; keys.len()];
    for w in 1..idx.len() {
        if keys[idx[w]].0 == keys[idx[w - 1]].0 {
            rank[idx[w]] = rank[idx[w - 1]] + 1;
        }
    }
    let mut by_rank = idx.clone();
    by_rank.sort_by_key(|&i| (rank[i], keys[i]));
    by_rank.truncate(max);
    by_rank.sort_by_key(|&i| keys[i]);
    by_rank
}

/// Looks the stale transactions up, each wallet's in nonce order. One the node no longer knows
/// is re-sent (same bytes, so included at most once); if the node refuses those bytes (priced
/// out by a risen base fee), the same nonce is re-signed at the current fee. One the node still
/// holds below the current base fee is replaced the same way. A wallet's lowest one that the
/// node holds while the chain's nonce for the wallet has stood at it for `RESEND_AFTER_MS` (a
/// node that keeps it queued and never promotes it) is sent again, same bytes. Replacements per
/// transaction are bounded.
pub async fn recover(
    ctx: Arc<Ctx>,
    provider: DynProvider,
    stale: Vec<Stale>,
    current: Fees,
    out: mpsc::UnboundedSender<Recovery>,
) {
    let p = &provider;
    let base_fee = current
        .max_fee_per_gas
        .saturating_sub(current.max_priority_fee_per_gas)
        / 2;
    let (mut rebroadcast, mut replaced) = (0usize, 0usize);
    let mut last_sender = None;
    for s in stale {
        let sender = s.resign.signer.address();
        let lowest = last_sender != Some(sender);
        last_sender = Some(sender);
        let known = match p.get_transaction_by_hash(s.hash).await {
            Ok(k) => k.is_some(),
            Err(_) => continue,
        };
        let priced_out = !current.legacy && s.fees.max_fee_per_gas < base_fee;
        let refusal = if known {
            if !priced_out {
                if lowest && stuck_at(p, sender, s.resign.nonce).await {
                    // Held but not mined while it is the wallet's next nonce: kick it.
                    if send_raw(p, &s.raw).await.is_ok() {
                        rebroadcast += 1;
                    }
                }
                continue;
            }
            "its max fee is below the base fee".to_string()
        } else {
            match send_raw(p, &s.raw).await {
                Ok(_) => {
                    rebroadcast += 1;
                    continue;
                }
                Err(e) => e,
            }
        };
        // A blob transaction is replaced only with every fee cap doubled (the blob cap too, in
        // geth's blob pool): it is left to be mined when the base fee comes down, or to time out.
        if s.resign.call.blob.is_some() {
            continue;
        }
        if s.resent >= MAX_REPLACEMENTS {
            let _ = out.send(Recovery::Refused(s.hash, refusal));
            continue;
        }
        let fees = current.bumped_over(s.fees);
        let resigned = sign(
            &s.resign.signer,
            ctx.domain.chain_id,
            s.resign.nonce,
            fees,
            &s.resign.call,
        );
        let Ok((new, raw)) = resigned else {
            continue;
        };
        match send_once(p, new, &raw).await {
            Ok(()) => {
                replaced += 1;
                ctx.resent.fetch_add(1, Ordering::Relaxed);
                ctx.resigned.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(old = %s.hash, %new, "re-signed at {} wei/gas", fees.max_fee_per_gas);
                let _ = out.send(Recovery::Replaced {
                    old: s.hash,
                    new,
                    raw,
                    fees,
                });
            }
            Err(SendError::Refused(e)) | Err(SendError::Unknown(e)) => {
                let _ = out.send(Recovery::Refused(
                    s.hash,
                    format!("{refusal}; re-signed: {e}"),
                ));
            }
        }
    }
    ctx.resent.fetch_add(rebroadcast as u64, Ordering::Relaxed);
    let said = match (rebroadcast, replaced) {
        (0, 0) => None,
        (n, 0) => Some(format!(
            "{n} transactions the node dropped or left waiting were sent again (same bytes)"
        )),
        (0, r) => Some(format!(
            "{r} transactions priced out by a risen base fee were re-signed at the current fee"
        )),
        (n, r) => Some(format!(
            "{n} transactions the node dropped or left waiting were sent again (same bytes), {r} priced out were re-signed at the current fee"
        )),
    };
    if let Some(said) = said {
        tracing::warn!("{said}");
    }
}

/// Fails at once every pending transaction of `from` above `nonce`, a nonce the node refused
/// and that no later send of the wallet will fill: they wait behind it in the node's pool and
/// can never be included.
pub fn fail_behind(
    pending: &mut HashMap<B256, Watched>,
    alias: &mut HashMap<B256, B256>,
    from: Address,
    nonce: u64,
    class: ErrorClass,
    why: &str,
) {
    let behind: Vec<B256> = pending
        .values()
        .filter(|w| w.resign.nonce > nonce && w.resign.signer.address() == from)
        .map(|w| w.hash)
        .collect();
    if behind.is_empty() {
        return;
    }
    tracing::warn!(
        "{} transactions of {from} wait behind its nonce {nonce}, which the node refused ({}) and no later step filled: failed now",
        behind.len(),
        super::msg::one_line(why)
    );
    for h in behind {
        let Some(w) = pending.remove(&h) else {
            continue;
        };
        alias.retain(|_, target| *target != h);
        let _ = w.reply.send(ActorMsg::Tx(TxReport {
            idx: w.idx,
            sent_ms: w.sent_ms,
            result: TxResult::SendFailed {
                class,
                message: format!(
                    "waits behind nonce {nonce} of its wallet, which the node refused ({}) and no later step filled: it can never be included",
                    super::msg::one_line(why)
                ),
            },
        }));
    }
}

/// Whether the chain's nonce of `sender` is exactly `nonce`: its transaction at `nonce` is the
/// one the chain waits for.
async fn stuck_at(p: &DynProvider, sender: Address, nonce: u64) -> bool {
    p.get_transaction_count(sender)
        .latest()
        .await
        .is_ok_and(|n| n == nonce)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::watched::for_test as watched;
    use alloy::signers::local::PrivateKeySigner;

    #[test]
    fn transactions_behind_a_refused_nonce_fail_at_once_with_its_cause() {
        let (a, b) = (
            Arc::new(PrivateKeySigner::random()),
            Arc::new(PrivateKeySigner::random()),
        );
        let (reply, mut got) = mpsc::unbounded_channel();
        let mut pending = HashMap::new();
        for w in [4, 6, 7]
            .map(|n| watched(&a, n, &reply))
            .into_iter()
            .chain([watched(&b, 6, &reply)])
        {
            pending.insert(w.hash, w);
        }
        // A replaced hash of a's 7 points at its pending one: it goes with it.
        let a7 = watched(&a, 7, &reply).hash;
        let mut alias = HashMap::from([(B256::repeat_byte(9), a7)]);
        fail_behind(
            &mut pending,
            &mut alias,
            a.address(),
            5,
            ErrorClass::InsufficientFunds,
            "insufficient funds for gas * price + value",
        );
        // a's 6 and 7 failed with the cause; a's 4 (below the hole) and b's 6 still wait.
        let mut failed = Vec::new();
        while let Ok(ActorMsg::Tx(r)) = got.try_recv() {
            let TxResult::SendFailed { class, message } = r.result else {
                panic!("{:?}", r.result);
            };
            assert_eq!(class, ErrorClass::InsufficientFunds);
            assert!(
                message.contains("behind nonce 5") && message.contains("insufficient funds"),
                "{message}"
            );
            failed.push(r.idx);
        }
        failed.sort();
        assert_eq!(failed, [6, 7]);
        let mut left: Vec<u64> = pending.values().map(|w| w.resign.nonce).collect();
        left.sort();
        assert_eq!(left, [4, 6]);
        assert!(alias.is_empty());
    }

    #[test]
    fn resends_reach_every_wallets_lowest_nonce_first_and_keep_nonce_order() {
        // Wallet 1 has nonces 5..=9 stale, wallet 2 has 3 and 4, wallet 3 has 7.
        let keys: Vec<(u8, u64)> = vec![
            (1, 9),
            (2, 4),
            (1, 5),
            (3, 7),
            (1, 7),
            (1, 6),
            (2, 3),
            (1, 8),
        ];
        let picked: Vec<(u8, u64)> = resend_order(&keys, 5)
            .into_iter()
            .map(|i| keys[i])
            .collect();
        // Each wallet's lowest first (1:5, 2:3, 3:7), then the next ranks (1:6, 2:4).
        assert_eq!(picked, [(1, 5), (1, 6), (2, 3), (2, 4), (3, 7)]);
        let all: Vec<(u8, u64)> = resend_order(&keys, 100)
            .into_iter()
            .map(|i| keys[i])
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(all, sorted);
        assert!(resend_order::<u8>(&[], 3).is_empty());
    }
}
