# keyaudit in a container: a Rust builder stage, then a small non-root runtime image that
# holds the binary only (plus what distroless's cc image carries: glibc, libgcc, CA
# certificates for HTTPS to AWS). Never built yet (no registry reachable from CI or the
# development machine); see the README for what was checked instead.
#
#   docker build --build-arg KEYAUDIT_GIT_COMMIT="$(git rev-parse --short HEAD)" -t keyaudit .
#   docker run --rm -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY -e AWS_SESSION_TOKEN keyaudit scan

# Both stages are Debian 12 (bookworm), so the binary links against the glibc it runs on.
# Names in full: podman and buildah refuse short names (`rust:...`) without a search registry.
FROM docker.io/library/rust:1.94-slim-bookworm AS builder
WORKDIR /src
# The build context has no .git (.dockerignore): the commit for --version comes from here,
# and without it --version says "not built from git".
ARG KEYAUDIT_GIT_COMMIT=
ENV KEYAUDIT_GIT_COMMIT=${KEYAUDIT_GIT_COMMIT}
COPY . .
RUN cargo build --release --locked -p keyaudit --bin keyaudit \
    && install -m 0755 target/release/keyaudit /keyaudit

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /keyaudit /usr/local/bin/keyaudit
# uid 65532; reports go to stdout, or to a volume the user can write with --output.
USER nonroot:nonroot
WORKDIR /home/nonroot
ENTRYPOINT ["/usr/local/bin/keyaudit"]
CMD ["--help"]
