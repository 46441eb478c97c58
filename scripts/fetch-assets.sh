#!/usr/bin/env bash
# Fetch the pinned front-end libraries into service/web/static/vendor/ (git-ignored).
# Run by `make assets` (a prerequisite of `make run` and `make test`) and by image builds.
# The pages load these files from the service itself: nothing comes from a CDN at run time.
#
# Each tarball comes from the npm registry (through `npm pack`, or a plain download where npm is
# absent) and is checked against the pinned SHA-512 integrity before anything is extracted.
set -euo pipefail

ECHARTS_VERSION="5.6.0"
# dist.integrity of echarts@5.6.0 as published on registry.npmjs.org. Pinned here so that a
# compromised or substituted tarball is refused even if the registry answer changes.
ECHARTS_INTEGRITY="sha512-oTbVTsXfKuEhxftHqL5xprgLoc0k7uScAwtryCgWF6hPYFLRwOUHiFmHGCBKP5NPFNkDVopOieyUqYGH8Fa3kA=="

root="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$root/service/web/static/vendor"
target="$vendor/echarts-$ECHARTS_VERSION.min.js"
stamp="$vendor/echarts.version"

if [ -s "$target" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$ECHARTS_VERSION $ECHARTS_INTEGRITY" ]; then
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tarball="$work/echarts-$ECHARTS_VERSION.tgz"

if command -v npm >/dev/null; then
  (cd "$work" && npm pack --silent "echarts@$ECHARTS_VERSION" >/dev/null)
else
  # A fresh machine may have only Python: take the same tarball from the registry directly.
  registry="${NPM_CONFIG_REGISTRY:-https://registry.npmjs.org}"
  python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' \
    "${registry%/}/echarts/-/echarts-$ECHARTS_VERSION.tgz" "$tarball"
fi
actual="sha512-$(python3 -c 'import base64, hashlib, sys
print(base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tarball")"
if [ "$actual" != "$ECHARTS_INTEGRITY" ]; then
  echo "fetch-assets: echarts tarball integrity $actual does not match $ECHARTS_INTEGRITY" >&2
  exit 1
fi

tar -xzf "$tarball" -C "$work" package/dist/echarts.min.js package/LICENSE
mkdir -p "$vendor"
rm -f "$vendor"/echarts-*.min.js
install -m 0644 "$work/package/dist/echarts.min.js" "$target"
install -m 0644 "$work/package/LICENSE" "$vendor/ECHARTS-LICENSE.txt"
echo "$ECHARTS_VERSION $ECHARTS_INTEGRITY" > "$stamp"
echo "fetch-assets: echarts $ECHARTS_VERSION -> ${target#$root/}"
