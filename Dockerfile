# bpfex container image. Build (Docker or any BuildKit-compatible builder):
#   docker build --build-arg BPFEX_REVISION="$(git rev-parse --short=12 HEAD)" -t bpfex:0.1.0 .
# Run it the way deploy/kubernetes/daemonset.yaml does (uid 0 with only these capabilities):
#   docker run --rm --network host --cap-drop ALL --cap-add BPF --cap-add PERFMON \
#     --cap-add NET_ADMIN --read-only -v /sys/kernel/btf:/sys/kernel/btf:ro \
#     -v /sys/kernel/tracing:/sys/kernel/tracing:ro bpfex:0.1.0
# tests/deploy/image_test.py keeps this file honest: the build stage runs the README's scripts, the
# runtime packages provide every library the binary links, the default config passes --config.check.

# ---------------------------------------------------------------- build
# The same two steps as a fresh Debian 12 machine in the README: install the Debian packages, build.
FROM debian:12 AS build
# Reported as bpfex_build_info{revision}: the build context has no .git (see .dockerignore).
ARG BPFEX_REVISION=unknown
WORKDIR /src
# The dependencies first, in a layer of their own: editing the sources does not reinstall them.
COPY scripts/install-deps.sh scripts/
RUN scripts/install-deps.sh
COPY . .
RUN scripts/build.sh
# Debug info stays in the build stage.
RUN strip --strip-unneeded -o /bpfex build/bpfex

# ---------------------------------------------------------------- runtime
FROM debian:12-slim
# Only the shared libraries bpfex links (libc6, libstdc++6 and libgcc-s1 come with them).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libbpf1 libelf1 zlib1g libprometheus-cpp-core1.0 libyaml-cpp0.7 libmicrohttpd12 libcrypt1 libcurl4 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /bpfex /usr/local/bin/bpfex
COPY config/bpfex.yaml /etc/bpfex/bpfex.yaml
# Root, deliberately: loading BPF needs CAP_BPF and CAP_PERFMON, and container runtimes only give
# capabilities to uid 0 (there are no ambient capabilities for a non-root USER). Grant exactly
# those (--cap-drop ALL --cap-add ...) instead of --privileged.
USER 0:0
EXPOSE 9650
ENTRYPOINT ["/usr/local/bin/bpfex"]
CMD ["--config.file=/etc/bpfex/bpfex.yaml"]
