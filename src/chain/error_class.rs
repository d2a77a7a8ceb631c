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
        WORDINGS
            .iter()
            .find(|(_, words)| words.iter().any(|w| m.contains(w)))
            .map_or(Self::Other, |(class, _)| *class)
    }
}

/// What each class's messages say (lower case), tried in this order: the first match wins.
const WORDINGS: [(ErrorClass, &[&str]); 6] = [
    (
        ErrorClass::Nonce,
        &[
            "nonce too low",
            "nonce too high",
            "already known",
            "known transaction",
            "invalid nonce",
            "oldnonce",
        ],
    ),
    (
        ErrorClass::Underpriced,
        &[
            "underpriced",
            "fee cap less than block base fee",
            "max fee per gas less than block base fee",
            "too low for the next block",
            "gas price too low",
            "feetoolow",
        ],
    ),
    (
        ErrorClass::InsufficientFunds,
        &[
            "insufficient funds",
            "insufficient balance",
            "doesn't have enough funds",
        ],
    ),
    (ErrorClass::Reverted, &["revert"]),
    (ErrorClass::RpcTimeout, &["timed out", "timeout"]),
    (
        ErrorClass::Connection,
        &["connection", "connect", "broken pipe"],
    ),
];

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
