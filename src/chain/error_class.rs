//! Why a send failed, as steps.csv's `error` column and the report name it: a node's error
//! message (geth, anvil, reth, erigon, Hardhat and Nethermind wordings) sorted into a class.

/// Why a send failed, as recorded in steps.csv's `error` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorClass {
    Nonce,
    Underpriced,
    InsufficientFunds,
    Reverted,
    RpcTimeout,
    Connection,
    Other,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nonce => "nonce",
            Self::Underpriced => "underpriced",
            Self::InsufficientFunds => "insufficient_funds",
            Self::Reverted => "reverted",
            Self::RpcTimeout => "rpc_timeout",
            Self::Connection => "connection",
            Self::Other => "other",
        }
    }

    /// Classifies a node's error message (geth, anvil, reth, erigon, Hardhat and Nethermind
    /// wordings).
    pub fn of_message(message: &str) -> Self {
        let m = message.to_ascii_lowercase();
        if m.contains("nonce too low")
            || m.contains("nonce too high")
            || m.contains("already known")
            || m.contains("known transaction")
            || m.contains("invalid nonce")
            || m.contains("oldnonce")
        {
            Self::Nonce
        } else if m.contains("underpriced")
            || m.contains("fee cap less than block base fee")
            || m.contains("max fee per gas less than block base fee")
            || m.contains("too low for the next block")
            || m.contains("gas price too low")
            || m.contains("feetoolow")
        {
            Self::Underpriced
        } else if m.contains("insufficient funds")
            || m.contains("insufficient balance")
            || m.contains("doesn't have enough funds")
        {
            Self::InsufficientFunds
        } else if m.contains("revert") {
            Self::Reverted
        } else if m.contains("timed out") || m.contains("timeout") {
            Self::RpcTimeout
        } else if m.contains("connection") || m.contains("connect") || m.contains("broken pipe") {
            Self::Connection
        } else {
            Self::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_knows_every_error_class_in_its_order() {
        use ErrorClass::*;
        // A new class fails to compile here until it is listed below and in the report.
        let _listed = |c: ErrorClass| match c {
            Nonce | Underpriced | InsufficientFunds | Reverted | RpcTimeout | Connection
            | Other => {}
        };
        let all = [
            Nonce,
            Underpriced,
            InsufficientFunds,
            Reverted,
            RpcTimeout,
            Connection,
            Other,
        ];
        assert_eq!(
            all.map(ErrorClass::as_str),
            crate::model::rows::ERROR_CLASSES
        );
    }

    #[test]
    fn classifies_node_messages() {
        let cases = [
            ("nonce too low: next nonce 5, tx nonce 3", ErrorClass::Nonce),
            (
                "replacement transaction underpriced",
                ErrorClass::Underpriced,
            ),
            (
                "Insufficient funds for gas * price + value",
                ErrorClass::InsufficientFunds,
            ),
            ("execution reverted: 0x1234", ErrorClass::Reverted),
            ("request timed out", ErrorClass::RpcTimeout),
            (
                "error sending request: connection refused",
                ErrorClass::Connection,
            ),
            ("something else", ErrorClass::Other),
            // Hardhat Network's wordings.
            (
                "Nonce too high. Expected nonce to be 3 but got 5.",
                ErrorClass::Nonce,
            ),
            ("Known transaction: 0xabc", ErrorClass::Nonce),
            (
                "Transaction maxFeePerGas (1) is too low for the next block, which has a baseFeePerGas of 7",
                ErrorClass::Underpriced,
            ),
            (
                "sender doesn't have enough funds to send tx",
                ErrorClass::InsufficientFunds,
            ),
        ];
        for (message, class) in cases {
            assert_eq!(ErrorClass::of_message(message), class, "{message}");
        }
    }
}
