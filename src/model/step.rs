//! The names every layer shares for a step: what it does (`StepKind`), which job it belongs to
//! (`JobId`), which wallet performs it (`WalletRef`, `RoleId`) and its amount (`Amount`).

use std::fmt;

/// A role's index in the scenario's roles, sorted by name.
pub type RoleId = u16;

/// What a step does. The declaration order is the tie-break order within a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StepKind {
    CreateLedgerChannel,
    CreateChannel,
    UpdateChannel,
    CloseChannel,
    CloseLedgerChannel,
    Transfer,
    TokenTransfer,
    Call,
    /// An RPC read (no transaction): `type = "read"`.
    Read,
    /// An EIP-4844 blob transaction: `type = "blob"`.
    Blob,
}

impl StepKind {
    pub const ALL: [StepKind; 10] = [
        Self::CreateLedgerChannel,
        Self::CreateChannel,
        Self::UpdateChannel,
        Self::CloseChannel,
        Self::CloseLedgerChannel,
        Self::Transfer,
        Self::TokenTransfer,
        Self::Call,
        Self::Read,
        Self::Blob,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreateLedgerChannel => "create_ledger_channel",
            Self::CreateChannel => "create_channel",
            Self::UpdateChannel => "update_channel",
            Self::CloseChannel => "close_channel",
            Self::CloseLedgerChannel => "close_ledger_channel",
            Self::Transfer => "transfer",
            Self::TokenTransfer => "token_transfer",
            Self::Call => "call",
            Self::Read => "read",
            Self::Blob => "blob",
        }
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Job id prefix; variants are in the alphabetical order of their text so ids sort as strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JobPrefix {
    /// A blob transaction.
    Bl,
    /// A payment channel (direct or ledger funded).
    Ch,
    /// A contract call.
    Cl,
    /// A ledger channel.
    Lg,
    /// An RPC read.
    Rd,
    /// A token transfer.
    Tk,
    /// An ETH transfer.
    Tx,
}

/// A job: the unit that a channel's steps share; transfers, calls and reads are one-step jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId {
    pub prefix: JobPrefix,
    pub n: u32,
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = match self.prefix {
            JobPrefix::Bl => "bl",
            JobPrefix::Ch => "ch",
            JobPrefix::Cl => "cl",
            JobPrefix::Lg => "lg",
            JobPrefix::Rd => "rd",
            JobPrefix::Tk => "tk",
            JobPrefix::Tx => "tx",
        };
        write!(f, "{p}-{:06}", self.n)
    }
}

/// A wallet: role and index within the role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WalletRef {
    pub role: RoleId,
    pub index: u32,
}

/// A u128 stored as four u32 words: aligned to 4 bytes, not 16, so a `Step` takes 64 bytes
/// instead of 80 (a plan of a million steps is held in memory for the whole run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount([u32; 4]);

impl Amount {
    pub const fn get(self) -> u128 {
        ((self.0[0] as u128) << 96)
            | ((self.0[1] as u128) << 64)
            | ((self.0[2] as u128) << 32)
            | self.0[3] as u128
    }
}

impl From<u128> for Amount {
    fn from(v: u128) -> Self {
        Self([
            (v >> 96) as u32,
            (v >> 64) as u32,
            (v >> 32) as u32,
            v as u32,
        ])
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.get())
    }
}
