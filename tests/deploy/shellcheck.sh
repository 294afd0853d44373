#!/usr/bin/env bash
# Every shell script of the repository passes shellcheck (following sourced files).
# Usage: tests/deploy/shellcheck.sh REPO_ROOT
set -euo pipefail
root=$(cd "${1:?usage: $0 REPO_ROOT}" && pwd)
cd "$root"
mapfile -t scripts < <(find . -name '*.sh' -not -path './build*' -not -path './.git/*' | sort)
if [[ ${#scripts[@]} -eq 0 ]]; then
  echo "FAIL no shell scripts found under $root"
  exit 1
fi
if shellcheck -x "${scripts[@]}"; then
  echo "shellcheck: ${#scripts[@]} scripts clean: ${scripts[*]}"
else
  echo "shellcheck: FAIL (see above)"
  exit 1
fi
