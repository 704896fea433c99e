#!/usr/bin/env bash
# Starts the shard Job, waits for it, then starts the merge Job.
set -euo pipefail
export RUN_TAG="${RUN_TAG:-$(date -u +%Y%m%d)}"
here="$(dirname "$0")"
manifest="$(envsubst '${RUN_TAG}' < "$here/tally-shards.yaml")"
# The two documents: shards first.
echo "$manifest" | awk 'BEGIN{RS="\n---\n"} NR==1' | kubectl apply -f -
kubectl wait --for=condition=complete --timeout=4h "job/tally-shards-${RUN_TAG}"
echo "$manifest" | awk 'BEGIN{RS="\n---\n"} NR==2' | kubectl apply -f -
kubectl wait --for=condition=complete --timeout=1h "job/tally-merge-${RUN_TAG}"
