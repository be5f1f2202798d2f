# One image for every service of Douyin Mall; compose.yaml picks the binary per container.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --workspace --bins \
 && mkdir /out \
 && cp target/release/mall target/release/router target/release/*-subgraph /out/

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /usr/local/bin/
COPY router-config /app/router-config
COPY schema /app/schema
WORKDIR /app
ENV ROUTER_CONFIG_FILE_PATH=/app/router-config/router.config.yaml
CMD ["mall"]
