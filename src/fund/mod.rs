//! Funding: the pure fan-out tree and the payments that bring every wallet to its target.
//!
//! Node 0 is the funder; nodes 1..=N are the wallets (wallet i is node i + 1) laid out as a
//! complete `fanout`-ary heap: node k pays nodes fanout·k + 1 ..= fanout·k + fanout. Each payer
//! sends ONE Disperse transaction carrying ETH and tokens to its children, so a level of the tree
//! goes out in parallel and depth is the smallest d with fanout + fanout² + … + fanout^d ≥ N
//! (at most ceil(log_fanout N)). No tokio, no RPC.

mod needs;
mod tree;

pub use needs::*;

pub use tree::*;
