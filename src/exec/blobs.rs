//! Blob workloads ready to send: each one's pool of blobs (contents from the seed,
//! `plan::blob::blob_pool`) with their KZG commitments and proofs, computed once with alloy's
//! KZG (the Ethereum trusted setup it carries), and its cap per unit of blob gas. A step takes
//! the pool blobs its plan row names.

use std::sync::Arc;

use alloy::consensus::{BlobTransactionSidecar, EnvKzgSettings};
use alloy::eips::eip4844::Blob;
use alloy::providers::Provider;

use crate::chain::tx::BlobCarry;
use crate::chain::{Chain, ChainError};
use crate::scenario::{Scenario, WorkloadKind};

/// The least default cap per unit of blob gas (1 gwei): a chain whose blob base fee is 1 wei
/// (a fresh devnet) still gets room for it to rise.
const MIN_DEFAULT_CAP: u128 = 1_000_000_000;

/// One blob workload's pool.
pub struct BlobPool {
    sidecar: BlobTransactionSidecar,
    max_fee_per_blob_gas: u128,
}

impl BlobPool {
    /// What a step carries: the pool blobs `picks` names (the plan's `args`).
    pub fn carry(&self, picks: &[String]) -> Option<BlobCarry> {
        let mut sidecar = BlobTransactionSidecar::default();
        for p in picks {
            let k: usize = p.parse().ok()?;
            sidecar.blobs.push(*self.sidecar.blobs.get(k)?);
            sidecar.commitments.push(*self.sidecar.commitments.get(k)?);
            sidecar.proofs.push(*self.sidecar.proofs.get(k)?);
        }
        Some(BlobCarry {
            hashes: sidecar.versioned_hashes().collect(),
            sidecar,
            max_fee_per_blob_gas: self.max_fee_per_blob_gas,
        })
    }
}

/// Each blob workload's cap per unit of blob gas, by workload index (0 for the others): the
/// scenario's `max_fee_per_blob_gas`, else twice the chain's blob base fee now, at least 1 gwei.
pub async fn blob_fee_caps(scenario: &Scenario, chain: &Chain) -> Result<Vec<u128>, ChainError> {
    let n = scenario
        .workloads
        .iter()
        .map(|w| w.index + 1)
        .max()
        .unwrap_or(0);
    let mut caps = vec![0; n];
    let mut base = None;
    if scenario
        .workloads
        .iter()
        .any(|w| matches!(w.kind, WorkloadKind::Blob(_)))
    {
        // The trusted setup is loaded once, here at set-up: not on the clock of the run.
        let _ = EnvKzgSettings::Default.get();
    }
    for w in &scenario.workloads {
        let WorkloadKind::Blob(b) = &w.kind else {
            continue;
        };
        caps[w.index] = match b.max_fee_per_blob_gas {
            Some(c) => c,
            None => {
                if base.is_none() {
                    let fee = chain.provider.get_blob_base_fee().await.map_err(|e| {
                        ChainError::rpc("the blob base fee (eth_blobBaseFee: blob workloads need a Cancun or later chain)", e)
                    })?;
                    base = Some(fee);
                }
                (2 * base.unwrap_or(0)).max(MIN_DEFAULT_CAP)
            }
        };
    }
    Ok(caps)
}

/// The pools of `scenario`'s blob workloads for `seed` with their caps (`caps`, by workload
/// index), by workload index. KZG costs about a tenth of a second of CPU per pool blob here: the
/// pipeline makes them before the run's clock starts.
pub fn pools(
    scenario: &Scenario,
    seed: u64,
    caps: &[u128],
) -> Result<Vec<Option<Arc<BlobPool>>>, ChainError> {
    let mut out = Vec::with_capacity(scenario.workloads.len());
    for w in &scenario.workloads {
        out.resize_with(w.index, || None);
        if !matches!(w.kind, WorkloadKind::Blob(_)) {
            out.push(None);
            continue;
        }
        let blobs: Vec<Blob> = crate::plan::blob::blob_pool(seed, w.index)
            .iter()
            .map(|d| Blob::try_from(d.as_slice()).expect("a pool blob is BLOB_BYTES long"))
            .collect();
        let sidecar = BlobTransactionSidecar::try_from_blobs_with_settings(
            blobs,
            EnvKzgSettings::Default.get(),
        )
        .map_err(|e| ChainError::rpc(format!("KZG of workload {}'s blobs", w.index), e))?;
        out.push(Some(Arc::new(BlobPool {
            sidecar,
            max_fee_per_blob_gas: caps.get(w.index).copied().unwrap_or(MIN_DEFAULT_CAP),
        })));
    }
    Ok(out)
}
