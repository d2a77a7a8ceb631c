// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @dev Only the one function Disperse needs.
interface IERC20 {
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// @title Disperse
/// @notice Pays many recipients ETH and/or one ERC20 token in a single transaction.
///         loadrun uses it to fund its wallets in a fan-out tree instead of one
///         transaction per wallet.
/// @dev Holds nothing between calls: every wei sent in is paid out in the same call
///      (msg.value must match the amounts exactly), and tokens go straight from the
///      payer to the recipients, so the payer must approve this contract first.
contract Disperse {
    error LengthMismatch();
    error WrongValue(uint256 sent, uint256 needed);
    error EtherTransferFailed(address recipient, uint256 amount);
    error TokenTransferFailed(address recipient, uint256 amount);

    /// @param recipients  who gets paid
    /// @param ethAmounts  wei per recipient (same length as recipients; zeros are skipped)
    /// @param token       ERC20 to pay in; ignored (may be address(0)) when tokenAmounts is empty
    /// @param tokenAmounts token units per recipient, or empty for an ETH-only payout
    function disperse(
        address[] calldata recipients,
        uint256[] calldata ethAmounts,
        address token,
        uint256[] calldata tokenAmounts
    ) external payable {
        if (tokenAmounts.length != 0 && tokenAmounts.length != recipients.length) revert LengthMismatch();
        _payEther(recipients, ethAmounts);

        for (uint256 i; i < tokenAmounts.length; ) {
            uint256 amount = tokenAmounts[i];
            if (amount != 0 && !IERC20(token).transferFrom(msg.sender, recipients[i], amount)) {
                revert TokenTransferFailed(recipients[i], amount);
            }
            unchecked {
                ++i;
            }
        }
    }

    /// @notice ETH-only shorthand for disperse(recipients, amounts, address(0), []).
    function disperseEther(address[] calldata recipients, uint256[] calldata amounts) external payable {
        _payEther(recipients, amounts);
    }

    function _payEther(address[] calldata recipients, uint256[] calldata amounts) private {
        if (amounts.length != recipients.length) revert LengthMismatch();

        // Check the total before paying anyone, so a short payment can never be
        // topped up from ETH that happens to sit in this contract, and an excess
        // payment never gets stuck here.
        uint256 needed;
        for (uint256 i; i < amounts.length; ) {
            needed += amounts[i]; // checked: an overflowing total reverts
            unchecked {
                ++i;
            }
        }
        if (msg.value != needed) revert WrongValue(msg.value, needed);

        for (uint256 i; i < amounts.length; ) {
            uint256 amount = amounts[i];
            if (amount != 0) {
                (bool ok, ) = recipients[i].call{value: amount}("");
                if (!ok) revert EtherTransferFailed(recipients[i], amount);
            }
            unchecked {
                ++i;
            }
        }
    }
}
