// onnx_predict.js — netrun predict reproduced from an exported model's
// manifest alone, in ONNX Runtime (onnxruntime-node): the 8-bit image
// scaled and normalized as the manifest's "input" says, cut into the tiles
// of its "window" settings, each run under the symmetries of "tta", the
// outputs weighted by the Gaussian and averaged, then "prior_correction".
// usage: ORT_DIR=DIR [ORT_THREADS=1] node onnx_predict.js MODEL.onnx MANIFEST.json IMAGE.npy PROBS.npy MASK.npy
// IMAGE.npy: uint8 (H,W) or (H,W,3); PROBS.npy: float32 (K,H,W); MASK.npy: uint8 (H,W).
'use strict';
const fs = require('fs');
const ort = require(require('path').resolve(process.env.ORT_DIR || '.', 'node_modules', 'onnxruntime-node'));

function readNpy(path) {
    const b = fs.readFileSync(path);
    const hlen = b.readUInt16LE(8), hdr = b.toString('latin1', 10, 10 + hlen);
    const descr = /'descr': '([^']+)'/.exec(hdr)[1];
    const shape = /'shape': \(([^)]*)\)/.exec(hdr)[1].split(',').filter(s => s.trim()).map(Number);
    const data = b.subarray(10 + hlen);
    if (descr === '|u1') return {shape, data: Uint8Array.from(data)};
    if (descr === '<f4') return {shape, data: new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length))};
    throw new Error(`${path}: dtype ${descr}`);
}

function writeNpy(path, descr, shape, bytes) {
    let hdr = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
    hdr += ' '.repeat((64 - (10 + hdr.length + 1) % 64) % 64) + '\n';
    const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, hdr.length & 255, hdr.length >> 8]);
    fs.writeFileSync(path, Buffer.concat([pre, Buffer.from(hdr, 'latin1'), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]));
}

// window.h: the tile origins along a side
function positions(len, t, overlap) {
    if (len <= t) return [0];
    const target = Math.max(1, t * (1 - overlap));
    const n = Math.ceil((len - t) / target) + 1, step = (len - t) / (n - 1);
    return Array.from({length: n}, (_, k) => Math.round(step * k));
}

function gaussian(h, w, sigma) {
    const g = new Float32Array(h * w), sy = h * sigma, sx = w * sigma, cy = Math.floor(h / 2), cx = Math.floor(w / 2);
    for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
            const v = Math.exp(-((y - cy) ** 2) / (2 * sy * sy)) * Math.exp(-((x - cx) ** 2) / (2 * sx * sx));
            g[y * w + x] = Math.max(v, 1e-8);
        }
    return g;
}

// the source pixel (a, b) of tile pixel (y, x) under symmetry v: bit 2
// transpose, then bit 1 vertical and bit 0 horizontal flips
function sym(v, th, tw, y, x) {
    let p = v & 4 ? x : y, q = v & 4 ? y : x;
    if (v & 2) p = th - 1 - p;
    if (v & 1) q = tw - 1 - q;
    return [p, q];
}

async function main() {
    const [model, manifestPath, imagePath, probsPath, maskPath] = process.argv.slice(2);
    const man = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
    if (man.infer_size !== 'window') throw new Error(`infer_size ${man.infer_size}: this script does windows`);
    const img = readNpy(imagePath), H = img.shape[0], W = img.shape[1], colour = img.shape.length === 3;
    const [, C, TH, TW] = man.input.shape, K = man.classes.count;
    // the input as the manifest says: pixel * scale, channels, (x - mean) / std
    const norm = new Float32Array(C * H * W);
    for (let p = 0; p < H * W; p++)
        for (let c = 0; c < C; c++) {
            const px = k => img.data[p * (colour ? img.shape[2] : 1) + k] * man.input.scale;
            const v = !colour ? px(0) : C === 1 ? 0.299 * px(0) + 0.587 * px(1) + 0.114 * px(2) : px(c);
            norm[c * H * W + p] = (Math.fround(v) - man.input.mean[c]) / man.input.std[c];
        }
    const nsym = man.tta === 'none' ? 1 : man.tta === 'all' && TH === TW ? 8 : 4;
    const g = gaussian(TH, TW, man.window.window_sigma);
    const threads = Number(process.env.ORT_THREADS || 1); // ONNX Runtime's intra-op threads
    const session = await ort.InferenceSession.create(model, {intraOpNumThreads: threads, interOpNumThreads: 1});
    const acc = new Float64Array(K * H * W), wsum = new Float64Array(H * W);
    const jobs = [];
    for (const y0 of positions(H, TH, man.window.overlap))
        for (const x0 of positions(W, TW, man.window.overlap))
            for (let v = 0; v < nsym; v++) jobs.push([y0, x0, v]);
    const batch = new Float32Array(jobs.length * C * TH * TW); // outside the image: 0 after normalization
    jobs.forEach(([y0, x0, v], j) => {
        for (let y = 0; y < TH; y++)
            for (let x = 0; x < TW; x++) {
                const [a, b] = sym(v, TH, TW, y, x);
                if (y0 + a >= H || x0 + b >= W) continue;
                for (let c = 0; c < C; c++)
                    batch[((j * C + c) * TH + y) * TW + x] = norm[(c * H + y0 + a) * W + x0 + b];
            }
    });
    const feeds = {[man.input.name]: new ort.Tensor('float32', batch, [jobs.length, C, TH, TW])};
    const out = (await session.run(feeds))[man.output.name].data;
    jobs.forEach(([y0, x0, v], j) => {
        for (let y = 0; y < TH; y++)
            for (let x = 0; x < TW; x++) {
                const [a, b] = sym(v, TH, TW, y, x);
                const iy = y0 + a, ix = x0 + b;
                if (iy >= H || ix >= W) continue;
                const wt = g[a * TW + b];
                wsum[iy * W + ix] += wt;
                for (let k = 0; k < K; k++) acc[(k * H + iy) * W + ix] += wt * out[((j * K + k) * TH + y) * TW + x];
            }
    });
    const tau = man.prior_correction.tau, priors = man.prior_correction.priors;
    const probs = new Float32Array(K * H * W), mask = new Uint8Array(H * W);
    for (let p = 0; p < H * W; p++) {
        let sum = 0, best = 0;
        const q = [];
        for (let k = 0; k < K; k++) {
            q.push(acc[k * H * W + p] / wsum[p] * (tau > 0 ? priors[k] ** -tau : 1));
            sum += q[k];
            if (q[k] > q[best]) best = k;
        }
        for (let k = 0; k < K; k++) probs[k * H * W + p] = q[k] / sum;
        mask[p] = best;
    }
    writeNpy(probsPath, '<f4', [K, H, W], probs);
    writeNpy(maskPath, '|u1', [H, W], mask);
}

main().catch(e => { console.error(`onnx_predict.js: ${e.message}`); process.exit(1); });
