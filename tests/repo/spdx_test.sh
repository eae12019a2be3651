#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every source file of haul carries its license tag, and LICENSE is the
# Apache License 2.0 that tag names.
#   spdx_test.sh SOURCE_DIR
set -euo pipefail
cd "$1"
grep -q "Apache License" LICENSE && grep -q "Version 2.0, January 2004" LICENSE \
  || { echo "LICENSE is not the Apache License 2.0" >&2; exit 1; }
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  list() { git ls-files; }
else
  list() { find . -type f -not -path './build*' -not -path '*/node_modules/*' | sed 's|^\./||'; }
fi
missing=$(list | grep -E '\.(cpp|hpp|h|c|py|sh|cmake|js|css)$|(^|/)CMakeLists\.txt$|^scripts/|^\.ci/' \
  | grep -vE '^tests/data/|/seeds/|/node_modules/' \
  | while read -r f; do grep -q "SPDX-License-Identifier: Apache-2.0" "$f" || echo "$f"; done)
if [ -n "$missing" ]; then
  echo "these files lack '// SPDX-License-Identifier: Apache-2.0' (or '#' in scripts):" >&2
  echo "$missing" >&2
  exit 1
fi
echo "every source file carries SPDX-License-Identifier: Apache-2.0"
