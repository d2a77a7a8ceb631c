// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Adjudicator
/// @notice Two-party ETH payment channels for loadrun's state-channel scenarios.
///
/// Lifecycle: party `a` opens a channel with peer `b` (optionally funding it), either
/// party may top it up with `deposit`, and the two then exchange states off chain.
/// A state is (channel id, nonce, balA, balB); both parties sign the EIP-191
/// personal-message hash of `stateHash(...)`, i.e. what eth_sign / personal_sign
/// produce. Any holder of a doubly-signed state may:
///   - `checkpoint` it, which only records its nonce so older states can no longer
///     be used to close, or
///   - `close` with it, which pays balA to `a` and balB to `b` and ends the channel.
/// A state is only valid if balA + balB equals the channel's holding exactly, so a
/// deposit made after a state was signed invalidates that state; parties re-sign.
///
/// Ledger channels are ordinary channels opened with `ledger = true`. The flag only
/// changes which counters they are tallied in. App channels funded by a ledger live
/// entirely OFF chain: they are states signed by both parties that allocate part of
/// the ledger's holding, and are never opened, checkpointed or closed here. Only the
/// ledger's final allocation (after the parties fold every app channel's outcome
/// back into it) settles on chain, through `close`.
///
/// There is deliberately no unilateral close with a challenge period: loadrun
/// controls both parties, so closing is always cooperative. This keeps the contract
/// small while still rejecting forged, replayed, malleated and stale states.
///
/// Counters: `openChannels`/`openLedgers` count channels currently open (ledgers are
/// included in openChannels); `closedChannels`/`closedLedgers` count channels ever
/// closed. `totalHoldings` is the sum of the holdings of all open channels.
contract Adjudicator {
    enum Status {
        None,
        Open,
        Closed
    }

    struct Channel {
        address a;
        address b;
        uint256 holding;
        uint64 nonce;
        bool ledger;
        Status status;
    }

    /// @dev secp256k1n / 2; signatures with a larger s are the malleated twin of a valid one.
    uint256 private constant HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    mapping(bytes32 => Channel) private channels;

    uint256 public totalHoldings;
    uint256 public openChannels;
    uint256 public openLedgers;
    uint256 public closedChannels;
    uint256 public closedLedgers;

    event Opened(bytes32 indexed id, address indexed a, address indexed b, uint256 amount, bool ledger);
    event Deposited(bytes32 indexed id, address indexed from, uint256 amount);
    event Checkpointed(bytes32 indexed id, uint64 nonce);
    event Closed(bytes32 indexed id, uint64 nonce, uint256 balA, uint256 balB);

    error InvalidPeer();
    error ChannelExists();
    error NotOpen();
    error NotParty();
    error StaleState();
    error WrongBalances();
    error BadSignature();
    error PaymentFailed(address to, uint256 amount);

    // ---------------------------------------------------------------- views

    function channelId(address a, address b, bytes32 salt) public view returns (bytes32) {
        return keccak256(abi.encode(block.chainid, address(this), a, b, salt));
    }

    /// @notice The hash both parties sign (after EIP-191 prefixing). Binding the
    ///         contract, chain and channel stops a state being replayed elsewhere.
    function stateHash(bytes32 id, uint64 nonce, uint256 balA, uint256 balB) public view returns (bytes32) {
        return keccak256(abi.encode(address(this), block.chainid, id, nonce, balA, balB));
    }

    function getChannel(bytes32 id) external view returns (Channel memory) {
        return channels[id];
    }

    function status(bytes32 id) external view returns (Status) {
        return channels[id].status;
    }

    function holdings() external view returns (uint256) {
        return totalHoldings;
    }

    // ------------------------------------------------------------ mutations

    /// @notice Opens a channel between msg.sender (`a`) and `peer` (`b`), funded with
    ///         msg.value. A zero opening deposit is allowed; `deposit` can fund it later.
    function open(address peer, bytes32 salt, bool ledger) external payable returns (bytes32 id) {
        if (peer == address(0) || peer == msg.sender) revert InvalidPeer();
        id = channelId(msg.sender, peer, salt);
        Channel storage c = channels[id];
        // Closed ids stay taken too, so signed states of a closed channel can never
        // become valid again in a reopened one.
        if (c.status != Status.None) revert ChannelExists();

        c.a = msg.sender;
        c.b = peer;
        c.holding = msg.value;
        c.ledger = ledger;
        c.status = Status.Open;

        totalHoldings += msg.value;
        ++openChannels;
        if (ledger) ++openLedgers;
        emit Opened(id, msg.sender, peer, msg.value, ledger);
    }

    function deposit(bytes32 id) external payable {
        Channel storage c = channels[id];
        if (c.status != Status.Open) revert NotOpen();
        if (msg.sender != c.a && msg.sender != c.b) revert NotParty();
        c.holding += msg.value;
        totalHoldings += msg.value;
        emit Deposited(id, msg.sender, msg.value);
    }

    /// @notice Records that a state with `nonce` exists, so that `close` rejects anything older.
    function checkpoint(
        bytes32 id,
        uint64 nonce,
        uint256 balA,
        uint256 balB,
        bytes calldata sigA,
        bytes calldata sigB
    ) external {
        Channel storage c = channels[id];
        if (c.status != Status.Open) revert NotOpen();
        if (nonce <= c.nonce) revert StaleState();
        _verifyState(c, id, nonce, balA, balB, sigA, sigB);
        c.nonce = nonce;
        emit Checkpointed(id, nonce);
    }

    /// @notice Cooperative close: pays out a state signed by both parties and ends the channel.
    ///         The nonce may equal the checkpointed one (closing with the checkpointed state).
    function close(
        bytes32 id,
        uint64 nonce,
        uint256 balA,
        uint256 balB,
        bytes calldata sigA,
        bytes calldata sigB
    ) external {
        Channel storage c = channels[id];
        if (c.status != Status.Open) revert NotOpen();
        if (nonce < c.nonce) revert StaleState();
        _verifyState(c, id, nonce, balA, balB, sigA, sigB);

        // Effects before interactions: a payee re-entering sees the channel Closed.
        uint256 holding = c.holding;
        c.status = Status.Closed;
        c.holding = 0;
        c.nonce = nonce;
        totalHoldings -= holding;
        --openChannels;
        ++closedChannels;
        if (c.ledger) {
            --openLedgers;
            ++closedLedgers;
        }
        emit Closed(id, nonce, balA, balB);

        _pay(c.a, balA);
        _pay(c.b, balB);
    }

    // -------------------------------------------------------------- internal

    function _verifyState(
        Channel storage c,
        bytes32 id,
        uint64 nonce,
        uint256 balA,
        uint256 balB,
        bytes calldata sigA,
        bytes calldata sigB
    ) private view {
        // Checked addition: an overflowing pair of balances reverts instead of wrapping
        // around to match the holding.
        if (balA + balB != c.holding) revert WrongBalances();
        bytes32 digest = keccak256(
            abi.encodePacked("\x19Ethereum Signed Message:\n32", stateHash(id, nonce, balA, balB))
        );
        if (_recover(digest, sigA) != c.a || _recover(digest, sigB) != c.b) revert BadSignature();
    }

    /// @dev Accepts 65-byte r||s||v with v in {27, 28} or {0, 1}; rejects high s and
    ///      anything ecrecover cannot recover (it returns 0, which is never a party).
    function _recover(bytes32 digest, bytes calldata sig) private pure returns (address signer) {
        if (sig.length != 65) revert BadSignature();
        bytes32 r = bytes32(sig[0:32]);
        bytes32 s = bytes32(sig[32:64]);
        uint8 v = uint8(sig[64]);
        if (v < 27) v += 27;
        if (v != 27 && v != 28) revert BadSignature();
        if (uint256(s) > HALF_N) revert BadSignature();
        signer = ecrecover(digest, v, r, s);
        if (signer == address(0)) revert BadSignature();
    }

    function _pay(address to, uint256 amount) private {
        if (amount == 0) return;
        (bool ok, ) = to.call{value: amount}("");
        if (!ok) revert PaymentFailed(to, amount);
    }
}
