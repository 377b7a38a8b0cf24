#!/usr/bin/env bash
# A CI step that gates a model on a committed baseline (see README.md).
#
#   bash examples/ci-gate/gate.sh [PREDS]      # default: the example model, ../iris_logits.csv
#
# Exit 0: the loss is at most MAX_INCREASE above the baseline's and below FAIL_ABOVE.
# Exit 1: a check failed; one FAIL line on stderr says which.
# Exit 3: the inputs, or a baseline computed with other settings, could not be used.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
preds="${1:-$here/../iris_logits.csv}"
# CECLI may be a command with arguments (e.g. "python -m cecli"): left unquoted on purpose.
${CECLI:-cecli} ce "$preds" \
    --baseline "$here/baseline.json" --max-increase "${MAX_INCREASE:-0.01}" \
    --fail-above "${FAIL_ABOVE:-0.5}" \
    -f json > "${OUT:-result.json}"
