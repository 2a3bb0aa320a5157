// ort_bench.js — the inference time of an ONNX model in ONNX Runtime
// (onnxruntime-node under ORT_DIR): one session with THREADS intra-op
// threads, WARMUP runs, then RUNS timed session.run calls on one random
// input of the model's shape (batch 1); one JSON line with the median, min
// and max in seconds, as netrun bench --json prints them.
// usage: ORT_DIR=DIR node bench/ort_bench.js MODEL.onnx THREADS [RUNS=10] [WARMUP=2]
'use strict';
const ort = require(require('path').resolve(process.env.ORT_DIR || '.', 'node_modules', 'onnxruntime-node'));

async function main() {
    const [model, threads, runs = '10', warmup = '2'] = process.argv.slice(2);
    const s = await ort.InferenceSession.create(model, {intraOpNumThreads: Number(threads), interOpNumThreads: 1});
    const meta = JSON.parse(require('fs').readFileSync(model + '.json', 'utf8'));
    const [, c, h, w] = meta.input.shape;
    const x = Float32Array.from({length: c * h * w}, () => Math.random());
    const feeds = {[meta.input.name]: new ort.Tensor('float32', x, [1, c, h, w])};
    const t = [];
    for (let i = 0; i < Number(warmup) + Number(runs); i++) {
        const t0 = process.hrtime.bigint();
        await s.run(feeds);
        if (i >= Number(warmup)) t.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    t.sort((a, b) => a - b);
    const med = t.length % 2 ? t[(t.length - 1) / 2] : (t[t.length / 2 - 1] + t[t.length / 2]) / 2;
    console.log(JSON.stringify({runtime: 'onnxruntime-node', threads: Number(threads), runs: t.length,
                                median_s: med, min_s: t[0], max_s: t[t.length - 1]}));
}

main().catch(e => { console.error(`ort_bench.js: ${e.message}`); process.exit(1); });
