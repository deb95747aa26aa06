#!/bin/sh
# Vendor uPlot (MIT) from the npm registry into the dashboard's static files.
#
#   scripts/vendor-uplot.sh            # the version in static/vendor/uplot/VERSION
#   scripts/vendor-uplot.sh 1.6.33     # another version (then check the charts in a browser)
#
# Only the minified browser build, its stylesheet and the licence are kept:
# the dashboard serves them from /static, nothing is loaded from a CDN at run time.
# Needs npm (only to fetch the package tarball; nothing is installed).
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
target="$here/src/flightlog/web/static/vendor/uplot"
version=${1:-$(sed -n 's/^version: *//p' "$target/VERSION")}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "uplot@$version" >/dev/null && tar xzf "uplot-$version.tgz")
integrity=$(cd "$work" && npm view "uplot@$version" dist.integrity)

mkdir -p "$target"
cp "$work/package/dist/uPlot.iife.min.js" "$work/package/dist/uPlot.min.css" "$target/"
cp "$work/package/LICENSE" "$target/LICENSE"
cat > "$target/VERSION" <<NOTE
package: uplot
version: $version
license: MIT (LICENSE)
source: https://registry.npmjs.org/uplot/-/uplot-$version.tgz
integrity: $integrity
files: dist/uPlot.iife.min.js, dist/uPlot.min.css, LICENSE (unchanged)
update: scripts/vendor-uplot.sh <version>, then run tests/test_dashboard_insights.py
NOTE
echo "uPlot $version vendored into $target"
