#!/usr/bin/env node
// Compiles loadrun's contracts with the pinned solc-js and writes
// contracts/artifacts/<Name>.json, which the Rust side embeds.
//
//   node contracts/compile.mjs          # (re)write the artifacts
//   node contracts/compile.mjs --check  # exit 1 if the committed artifacts drift
//
// Settings are chosen for reproducibility: evmVersion "paris" so the code runs on
// chains without PUSH0, and no metadata hash / CBOR trailer so the bytecode depends
// only on the sources and compiler version, not on paths or comments.

import { createRequire } from "node:module";
import { readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const solc = require("solc");

const here = dirname(fileURLToPath(import.meta.url));
const artifactsDir = join(here, "artifacts");
const CONTRACTS = ["Token", "Disperse", "Adjudicator"];

const args = process.argv.slice(2);
const check = args.includes("--check");
const unknown = args.filter((a) => a !== "--check");
if (unknown.length) {
  console.error(`usage: node contracts/compile.mjs [--check]  (unknown: ${unknown.join(" ")})`);
  process.exit(2);
}

const input = {
  language: "Solidity",
  sources: Object.fromEntries(
    CONTRACTS.map((name) => [`${name}.sol`, { content: readFileSync(join(here, `${name}.sol`), "utf8") }]),
  ),
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "paris",
    metadata: { bytecodeHash: "none", appendCBOR: false },
    outputSelection: {
      "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] },
    },
  },
};

const output = JSON.parse(solc.compile(JSON.stringify(input)));

let failed = false;
for (const diag of output.errors ?? []) {
  const text = diag.formattedMessage ?? diag.message;
  if (diag.severity === "error") {
    failed = true;
    console.error(text);
  } else {
    console.warn(text);
  }
}
if (failed) {
  console.error("compile.mjs: solc reported errors; no artifacts written");
  process.exit(1);
}

const compiler = `solc-js ${solc.version()}`;
const artifacts = CONTRACTS.map((name) => {
  const out = output.contracts?.[`${name}.sol`]?.[name];
  const bytecode = out?.evm?.bytecode?.object;
  const deployed = out?.evm?.deployedBytecode?.object;
  if (!out || !bytecode || !deployed) {
    console.error(`compile.mjs: no bytecode for ${name} in ${name}.sol`);
    process.exit(1);
  }
  const artifact = {
    contractName: name,
    abi: out.abi,
    bytecode: `0x${bytecode}`,
    deployedBytecode: `0x${deployed}`,
    compiler,
  };
  return { path: join(artifactsDir, `${name}.json`), text: JSON.stringify(artifact, null, 2) + "\n" };
});

if (check) {
  const drifting = artifacts.filter(({ path, text }) => !existsSync(path) || readFileSync(path, "utf8") !== text);
  if (drifting.length) {
    for (const { path } of drifting) {
      console.error(`compile.mjs --check: ${relative(process.cwd(), path)} is out of date (or missing)`);
    }
    console.error("run `node contracts/compile.mjs` and commit the result");
    process.exit(1);
  }
  console.log(`compile.mjs --check: ${artifacts.length} artifacts up to date (${compiler})`);
} else {
  mkdirSync(artifactsDir, { recursive: true });
  for (const { path, text } of artifacts) {
    writeFileSync(path, text);
    console.log(`wrote ${relative(process.cwd(), path)}`);
  }
}
