#!/usr/bin/env bash
# Fetch the pinned front-end libraries into service/web/static/vendor/ (git-ignored).
# Run by `make assets` (a prerequisite of `make run` and `make test`) and by image builds.
# The pages load these files from the service itself: nothing comes from a CDN at run time.
#   - ECharts, for the dashboard's charts (docs/web.md);
#   - swagger-ui-dist, for the interactive API documentation at /docs (service/web/apidocs.py).
#
# Each tarball comes from the npm registry (through `npm pack`, or a plain download where npm is
# absent) and is checked against the pinned SHA-512 integrity before anything is extracted.
set -euo pipefail

# dist.integrity of each package as published on registry.npmjs.org. Pinned here so that a
# compromised or substituted tarball is refused even if the registry answer changes.
ECHARTS_VERSION="5.6.0"
ECHARTS_INTEGRITY="sha512-oTbVTsXfKuEhxftHqL5xprgLoc0k7uScAwtryCgWF6hPYFLRwOUHiFmHGCBKP5NPFNkDVopOieyUqYGH8Fa3kA=="
# Keep in step with SWAGGER_UI_VERSION in service/web/apidocs.py.
SWAGGER_UI_VERSION="5.18.2"
SWAGGER_UI_INTEGRITY="sha512-J+y4mCw/zXh1FOj5wGJvnAajq6XgHOyywsa9yITmwxIlJbMqITq3gYRZHaeqLVH/eV/HOPphE6NjF+nbSNC5Zw=="

root="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$root/service/web/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# fetch NAME VERSION INTEGRITY: the package's tarball, checked, unpacked into $work/NAME/package.
fetch() {
  local name="$1" version="$2" integrity="$3"
  local dir="$work/$name" tarball="$work/$name/$name-$version.tgz" actual
  mkdir -p "$dir"
  if command -v npm >/dev/null; then
    (cd "$dir" && npm pack --silent "$name@$version" >/dev/null)
  else
    # A fresh machine may have only Python: take the same tarball from the registry directly.
    local registry="${NPM_CONFIG_REGISTRY:-https://registry.npmjs.org}"
    python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' \
      "${registry%/}/$name/-/$name-$version.tgz" "$tarball"
  fi
  actual="sha512-$(python3 -c 'import base64, hashlib, sys
print(base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tarball")"
  if [ "$actual" != "$integrity" ]; then
    echo "fetch-assets: $name tarball integrity $actual does not match $integrity" >&2
    exit 1
  fi
  tar -xzf "$tarball" -C "$dir"
}

# current STAMP VERSION INTEGRITY FILE...: true when these files were fetched at this pin.
current() {
  local stamp="$1" pin="$2 $3"
  shift 3
  [ "$(cat "$stamp" 2>/dev/null)" = "$pin" ] || return 1
  for file in "$@"; do [ -s "$file" ] || return 1; done
}

mkdir -p "$vendor"

echarts="$vendor/echarts-$ECHARTS_VERSION.min.js"
if ! current "$vendor/echarts.version" "$ECHARTS_VERSION" "$ECHARTS_INTEGRITY" "$echarts"; then
  fetch echarts "$ECHARTS_VERSION" "$ECHARTS_INTEGRITY"
  rm -f "$vendor"/echarts-*.min.js
  install -m 0644 "$work/echarts/package/dist/echarts.min.js" "$echarts"
  install -m 0644 "$work/echarts/package/LICENSE" "$vendor/ECHARTS-LICENSE.txt"
  echo "$ECHARTS_VERSION $ECHARTS_INTEGRITY" > "$vendor/echarts.version"
  echo "fetch-assets: echarts $ECHARTS_VERSION -> ${echarts#$root/}"
fi

swagger="$vendor/swagger-ui-$SWAGGER_UI_VERSION"
if ! current "$vendor/swagger-ui.version" "$SWAGGER_UI_VERSION" "$SWAGGER_UI_INTEGRITY" \
    "$swagger/swagger-ui-bundle.js" "$swagger/swagger-ui.css"; then
  fetch swagger-ui-dist "$SWAGGER_UI_VERSION" "$SWAGGER_UI_INTEGRITY"
  rm -rf "$vendor"/swagger-ui-*/
  mkdir -p "$swagger"
  for file in swagger-ui-bundle.js swagger-ui.css LICENSE; do
    install -m 0644 "$work/swagger-ui-dist/package/$file" "$swagger/$file"
  done
  echo "$SWAGGER_UI_VERSION $SWAGGER_UI_INTEGRITY" > "$vendor/swagger-ui.version"
  echo "fetch-assets: swagger-ui-dist $SWAGGER_UI_VERSION -> ${swagger#$root/}/"
fi
