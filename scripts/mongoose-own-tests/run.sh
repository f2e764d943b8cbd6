#!/bin/bash
# Runs test files of Mongoose's own suite on the Node driver (native) and on tenantfence/mongoose
# (fence), one file at a time, and prints passing / failing for each.
#   scripts/mongoose-own-tests/run.sh <mongoose git checkout> <work dir> test/model.create.test.js …
# Needs MONGOOSE_TEST_URI (a replica set) and MONGOD_VERSION (e.g. '[6,0,5]'). The tests come from
# the checkout (git archive of test/); the Mongoose they run is this package's devDependency.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
checkout=$1; work=$2; shift 2
mkdir -p "$work" && cd "$work" || exit 1
if [ ! -d test ]; then
  git -C "$checkout" archive HEAD test | tar -x
  echo '{ "name": "mongoose-own-tests", "private": true }' > package.json
  npm install --no-audit --no-fund mocha@11 sinon lodash.isequal lodash.isequalwith uuid@9 >/dev/null
  ln -sfn "$root/node_modules/mongoose/lib" lib
  ln -sfn "$root/node_modules/mongoose/node_modules/mongodb" node_modules/mongodb
  echo "module.exports = require('$root/node_modules/mongoose');" > index.js
fi
drop() {
  node -e "const { MongoClient } = require('$root/node_modules/mongodb');
(async () => { const c = await MongoClient.connect(process.env.MONGOOSE_TEST_URI); for (const d of ['mongoose_test', 'mongoose_test_2']) await c.db(d).dropDatabase(); await c.close(); })();"
}
for f in "$@"; do
  for mode in native fence; do
    drop
    req=(); [ "$mode" = fence ] && req=(--require "$here/harness.js")
    out="out-$mode-$(basename "$f").txt"
    timeout 600 npx mocha --exit --timeout 20000 "${req[@]}" --reporter dot "$f" > "$out" 2>&1
    echo "$mode $(basename "$f"): $(grep -oE '[0-9]+ passing' "$out" | head -1) / $(grep -oE "[0-9]+ failing" "$out" | head -1)"
  done
done
drop
