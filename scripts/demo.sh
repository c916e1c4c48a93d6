#!/usr/bin/env bash
# Builds a signed kit from the project's fixtures (and the shared sample
# feeds when present), imports it into a store under .demo/ and prints the
# store's status. Nothing outside the checkout is written.
set -euo pipefail
cd "$(dirname "$0")/.."

root=$PWD
demo=$root/.demo
stella=$root/bin/stella
shared=$root/../shared/testdata
export STELLA_HOME=$demo/store
export COSIGN_PASSWORD=${COSIGN_PASSWORD:-stella-demo}
export GOFLAGS="-buildvcs=false -tags=pebblegozstd"
mkdir -p "$demo/keys" "$demo/bin" "$STELLA_HOME"

echo "==> Building stella for linux/amd64 and linux/arm64"
for arch in amd64 arm64; do
  CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -ldflags=-s \
    -o "$demo/bin/stella-linux-$arch" ./cmd/stella
done

scanner_ref=registry.example.test/stella-ops/scanner:0.1.0
echo "==> Assembling the multi-platform scanner image $scanner_ref"
rm -rf "$demo/image-scanner"
# A fixed creation time keeps the image digest the same from run to run.
go run ./testdata/gen/demoimage -o "$demo/image-scanner" -ref "$scanner_ref" -created 2026-01-01T00:00:00Z \
  linux/amd64="$demo/bin/stella-linux-amd64" linux/arm64="$demo/bin/stella-linux-arm64"

if [ ! -f "$demo/keys/cosign.key" ]; then
  echo "==> Generating the demo signing key"
  "$stella" ouk keygen --output-dir "$demo/keys"
elif ! "$stella" -q ouk sign --key "$demo/keys/cosign.key" --output-signature "$demo/keys/probe.sig" \
    "$root/README.md" >/dev/null 2>&1; then
  # The key pair of an earlier run was made with another password.
  echo "The demo key $demo/keys/cosign.key does not open with the password in COSIGN_PASSWORD" >&2
  echo "(or the default stella-demo when it is unset). Set COSIGN_PASSWORD to the password of the" >&2
  echo "run that made the key, or remove $demo/keys to make a new key pair, then run make demo again." >&2
  exit 1
fi
rm -f "$demo/keys/probe.sig"

feeds=(--feed osv="$root/testdata/feeds/osv" --feed regional:demo-cert="$root/testdata/feeds/regional")
if [ -d "$shared" ]; then
  echo "==> Adding the sample feeds from $shared"
  feeds+=(--feed osv="$shared/osv" --feed ghsa="$shared/ghsa" --feed nvd="$shared/nvd")
else
  echo "==> No public sample records next to the checkout; building from the project's fixtures only"
fi

echo "==> Building the kit"
"$stella" ouk build -o "$demo/kit.tar.zst" "${feeds[@]}" \
  --image "$scanner_ref=$demo/image-scanner" \
  --key "$demo/keys/cosign.key" --expires 30d
"$stella" ouk sign --key "$demo/keys/cosign.key" "$demo/kit.tar.zst"

echo "==> Verifying and importing it into $STELLA_HOME"
"$stella" ouk verify --key "$demo/keys/cosign.pub" --signature "$demo/kit.tar.zst.sig" "$demo/kit.tar.zst"
"$stella" ouk import --key "$demo/keys/cosign.pub" "$demo/kit.tar.zst"

echo "==> stella ouk status"
"$stella" ouk status

cat <<EOF

Try it:
  export STELLA_HOME=$STELLA_HOME
  bin/stella db lookup CVE-2099-0001
  bin/stella db lookup --purl pkg:npm/stella-demo-untar@2.3.0
  bin/stella scan --sbom testdata/sbom/demo-app.cdx.json
EOF
