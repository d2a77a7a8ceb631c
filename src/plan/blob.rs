//! Expansion of `blob` workloads: a transfer per arrival (`transfer::expand`) carrying `blobs`
//! blobs, each one of the workload's pool of `BLOB_POOL` blobs drawn from its own stream. The
//! plan's `args` column holds the pool indices; the pool's contents come from the seed
//! (`blob_pool`), so a run of the plan carries the same blobs, and versioned hashes, every time.

use super::args::Args;
use super::rng::{Purpose, stream};
use super::{Cx, Step, StepKind};
use crate::scenario::BlobWorkload;

/// Distinct blobs per workload: their KZG commitments and proofs are computed once, at the
/// start of a run, not per transaction.
pub const BLOB_POOL: u64 = 16;

/// Bytes of a blob (4096 field elements of 32 bytes).
pub const BLOB_BYTES: usize = 131_072;

pub(crate) fn expand(cx: &Cx, b: &BlobWorkload, out: &mut Vec<Step>) -> Args {
    let first = out.len();
    super::transfer::expand(cx, &b.transfer, StepKind::Blob, out);
    let mut pick = stream(cx.seed, cx.workload, Purpose::Blobs);
    let mut args = Args::new(b.blobs as usize);
    for _ in first..out.len() {
        args.push_values((0..b.blobs).map(|_| pick.below(BLOB_POOL).to_string()));
    }
    args
}

/// The contents of workload `workload`'s pool of blobs: random bytes from the seed, each
/// 32-byte field element's first byte zero (so it is below the BLS modulus, as KZG requires).
pub fn blob_pool(seed: u64, workload: usize) -> Vec<Vec<u8>> {
    let mut draw = stream(seed, workload, Purpose::BlobData);
    (0..BLOB_POOL)
        .map(|_| {
            let mut data = vec![0u8; BLOB_BYTES];
            draw.fill(&mut data);
            for fe in data.chunks_mut(32) {
                fe[0] = 0;
            }
            data
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_blobs_are_fixed_by_the_seed_and_valid_field_elements() {
        let a = blob_pool(1, 0);
        assert_eq!(a, blob_pool(1, 0));
        assert_ne!(a, blob_pool(2, 0));
        assert_ne!(a, blob_pool(1, 1));
        assert_eq!(a.len() as u64, BLOB_POOL);
        assert_ne!(a[0], a[1]);
        for b in &a {
            assert_eq!(b.len(), BLOB_BYTES);
            assert!(b.chunks(32).all(|fe| fe[0] == 0));
            assert!(b.iter().any(|x| *x != 0));
        }
    }
}
