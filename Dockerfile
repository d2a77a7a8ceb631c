# loadrun for users and for deploy/k8s/: a release build of loadrun plus the pinned anvil
# (package.json / package-lock.json), so `loadrun scenarios/x.toml` works in the container too.
#   docker build -t loadrun:latest .
#   docker run --rm -v "$PWD:/work" -w /work loadrun:latest scenarios/quickstart.toml
# (Not used by the tests: nothing in `cargo test` needs Docker.)

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY contracts ./contracts
COPY schemas ./schemas
COPY scenarios ./scenarios
RUN cargo build --release --locked --bin loadrun

FROM node:20-bookworm-slim AS tools
WORKDIR /opt/loadrun
COPY package.json package-lock.json ./
# Only the pinned anvil (an optional dependency) is needed at run time, not solc or hardhat.
RUN npm ci --omit=dev

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/loadrun /usr/local/bin/loadrun
COPY --from=tools /opt/loadrun/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil /usr/local/bin/anvil
RUN useradd --create-home --uid 1000 loadrun
USER loadrun
WORKDIR /home/loadrun
ENTRYPOINT ["/usr/local/bin/loadrun"]
