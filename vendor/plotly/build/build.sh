#!/bin/sh
# Rebuild vendor/plotly/plotly-wall.min.js (and its .br/.gz copies) from the npm registry.
# Keep the plotly.js version equal to the one plotly.py ships
# (python -c "from plotly.offline import get_plotlyjs_version as v; print(v())").
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$(dirname "$here")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/package.json" "$here/entry.js" "$work/"
cd "$work"
npm install --no-audit --no-fund --ignore-scripts --no-package-lock >/dev/null
version=$(node -p "require('plotly.js/package.json').version")
{
  printf '/*! plotly.js v%s (MIT, Plotly Technologies Inc.) partial bundle: bar, scatter, pie, indicator; see vendor/plotly/README.md */\n' "$version"
  ./node_modules/.bin/esbuild entry.js --bundle --minify --format=iife --global-name=Plotly \
    --define:global=window --define:define.amd=false --target=es2016 \
    --legal-comments=eof --loader:.css=empty --log-level=warning
} > "$out/plotly-wall.min.js"
python3 - "$out/plotly-wall.min.js" <<'PY'
import gzip, sys
path = sys.argv[1]
data = open(path, "rb").read()
with open(path + ".gz", "wb") as f:
    f.write(gzip.compress(data, 9, mtime=0))
try:
    import brotli
except ImportError:
    sys.exit("brotli missing: run with the project's virtualenv python first on PATH")
with open(path + ".br", "wb") as f:
    f.write(brotli.compress(data, quality=11))
PY
ls -l "$out"/plotly-wall.min.js*
