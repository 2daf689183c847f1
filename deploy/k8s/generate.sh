#!/usr/bin/env bash
# Regenerates deploy/k8s/dispatcher.yaml from the Helm chart, so the plain manifests never drift from it.
set -euo pipefail
cd "$(dirname "$0")/../helm/tools"
[ -x node_modules/.bin/helm ] || npm install --no-audit --no-fund --no-package-lock >/dev/null
node render.mjs template ../dispatcher ../../k8s/values.yaml \
  | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);if(!r.ok){console.error(r.error);process.exit(1)}process.stdout.write(r.manifest)})' \
  > ../../k8s/dispatcher.yaml
echo "wrote deploy/k8s/dispatcher.yaml"
