#!/usr/bin/env bash
# `npm run generate`: the code and the docs made from proto/ — sdk/src/gen (protoc-gen-es,
# buf.gen.yaml) and docs/api.md (scripts/api-docs.ts, from the descriptors and their
# comments). With a folder argument, writes both under it instead (check-generated.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/node-env.sh

out="${1:-.}"
npx buf generate --output "$out"
image="$(mktemp)"
trap 'rm -f "$image"' EXIT
npx buf build -o "$image#format=binpb"
mkdir -p "$out/docs"
node --import tsx scripts/api-docs.ts "$image" "$out/docs/api.md"
# The descriptors with their comments, for gRPC reflection (protoc-gen-es embeds them without).
mkdir -p "$out/server/src/gen"
node --import tsx scripts/reflection-descriptors.ts "$image" "$out/server/src/gen/reflection-descriptors.ts"
