#!/usr/bin/env bash
# One command on a fresh machine: install, build, and start live capture on
# this host. Arguments go to tlstap (see build/tlstap --help).
#   sudo scripts/run.sh              # everything, as a table
#   sudo scripts/run.sh --json -c curl
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh >&2
exec ./build/tlstap "$@"
