#!/usr/bin/env bash
# Occupies one core with a busy loop for at most $1 seconds (default 600), then
# exits by itself: make test-stress runs the suite beside it to shake out tests
# that only pass on an idle machine.
set -euo pipefail
limit="${1:-600}"
exec timeout "$limit" python3 -c 'while True: pass'
