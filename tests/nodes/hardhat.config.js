// Hardhat Network as the second node implementation in loadrun's compatibility tests
// (tests/nodes.rs): spawned on loopback with `hardhat node`, interval mining, a London chain.
// LOADRUN_HH_HARDFORK=berlin gives a chain without a base fee (legacy transactions).
module.exports = {
  networks: {
    hardhat: {
      chainId: 31337,
      hardfork: process.env.LOADRUN_HH_HARDFORK || "cancun",
      mining: { auto: false, interval: 1000 },
      accounts: { count: 1 },
      blockGasLimit: 30000000,
    },
  },
};
