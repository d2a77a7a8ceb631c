//! `blocks.csv`: every block of the run as read from the chain — `number,t_s,gas_used,gas_limit,
//! txs,base_fee_wei` — from the first block that held a transaction of the run, for the report's
//! per-block view (gas used vs the limit, transactions per block, base fee) and the verdict.

use serde::{Deserialize, Serialize};

/// One block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockRow {
    pub number: u64,
    /// When loadrun saw it, seconds since the plan's start.
    pub t_s: f64,
    pub gas_used: u64,
    pub gas_limit: u64,
    /// Transactions in the block (anyone's).
    pub txs: u64,
    /// The block's base fee, wei (empty on a chain without EIP-1559, and in older files).
    #[serde(default)]
    pub base_fee_wei: Option<u128>,
}

/// The columns of blocks.csv.
pub const COLUMNS: [&str; 6] = [
    "number",
    "t_s",
    "gas_used",
    "gas_limit",
    "txs",
    "base_fee_wei",
];

pub fn write_csv<W: std::io::Write>(rows: &[BlockRow], w: W) -> csv::Result<()> {
    let mut out = csv::Writer::from_writer(w);
    if rows.is_empty() {
        out.write_record(COLUMNS)?;
    }
    for r in rows {
        out.serialize(r)?;
    }
    out.flush()?;
    Ok(())
}

pub fn read_csv(text: &str) -> Vec<BlockRow> {
    csv::Reader::from_reader(text.as_bytes())
        .deserialize()
        .filter_map(Result::ok)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let rows = vec![BlockRow {
            number: 7,
            t_s: 1.25,
            gas_used: 21_000,
            gas_limit: 30_000_000,
            txs: 1,
            base_fee_wei: Some(7),
        }];
        let mut buf = Vec::new();
        write_csv(&rows, &mut buf).unwrap();
        assert_eq!(read_csv(std::str::from_utf8(&buf).unwrap()), rows);
        let mut empty = Vec::new();
        write_csv(&[], &mut empty).unwrap();
        assert_eq!(
            String::from_utf8(empty).unwrap(),
            "number,t_s,gas_used,gas_limit,txs,base_fee_wei\n"
        );
        // Files of older runs have no base fee column.
        let old = read_csv("number,t_s,gas_used,gas_limit,txs\n3,0.5,1,2,1\n");
        assert_eq!(old.len(), 1);
        assert_eq!(old[0].base_fee_wei, None);
    }
}
