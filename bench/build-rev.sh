#!/usr/bin/env bash
# Builds lib/ of a git revision (default: the working tree) into .tmp/build-<name>/dist, using this
# checkout's node_modules, so two versions can be measured side by side in one run:
#   bash bench/build-rev.sh fcd481c    -> .tmp/build-fcd481c/dist
#   bash bench/build-rev.sh            -> .tmp/build-current/dist
set -euo pipefail
cd "$(dirname "$0")/.."
rev="${1:-}"
name="${rev:-current}"
out=".tmp/build-$name"
rm -rf "$out"
mkdir -p "$out"
if [ -n "$rev" ]; then
  git archive "$rev" lib tsconfig.json tsconfig.build.json | tar -x -C "$out"
else
  cp -r lib tsconfig.json tsconfig.build.json "$out/"
fi
ln -s "$PWD/node_modules" "$out/node_modules"
npx tsc -p "$out/tsconfig.build.json" --outDir "$out/dist" --sourceMap false --inlineSources false --declaration false
echo "$out/dist"
