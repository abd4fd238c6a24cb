// Times llama.cpp on a GGUF file through node-llama-cpp's prebuilt CPU
// binaries, the same way llama-bench does: pp = one decode of P prompt
// tokens (logits of the last only), tg = N single-token decodes (logits
// each), both from an empty context with pseudo-random token ids, best of
// R runs after one warm-up run. It prints one JSON line.
//
// Usage (see README.md): node llbench.mjs MODEL.gguf THREADS [P=128] [N=16] [R=3]
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const [modelPath, threadsArg, pArg, nArg, rArg] = process.argv.slice(2);
if (!modelPath) {
    console.error("usage: node llbench.mjs MODEL.gguf THREADS [P=128] [N=16] [R=3]");
    process.exit(2);
}
const threads = Number(threadsArg ?? 1);
const P = Number(pArg ?? 128), N = Number(nArg ?? 16), R = Number(rArg ?? 3);

const llama = await getLlama({gpu: false, build: "never", maxThreads: threads,
    logLevel: process.env.LLDEBUG ? LlamaLogLevel.debug : LlamaLogLevel.error});
const model = await llama.loadModel({modelPath, gpuLayers: 0, useMmap: true});
const ctx = await model.createContext({contextSize: Math.max(P, N + 1) + 16, batchSize: Math.max(P, 16),
    sequences: 1, threads: {ideal: threads, min: threads}, flashAttention: false});
const seq = ctx.getSequence();
// The addon's context, driven directly: one llama_decode per call, no
// sampling or batching queue in between.
const c = ctx._ctx;
const seqId = seq._sequenceId;
c.setThreads(threads);

const meta = model.fileInfo.metadata;
const vocab = Number(meta[meta.general.architecture]?.vocab_size ?? meta.tokenizer?.ggml?.tokens?.length);
let s = 12345;
const token = () => { s = (s * 1103515245 + 12345) >>> 0; return 3 + (s >>> 8) % (vocab - 3); };

async function decode(pos, toks) {
    c.initBatch(toks.length);
    c.addToBatch(seqId, pos, Uint32Array.from(toks), Uint32Array.from([toks.length - 1]));
    await c.decodeBatch();
}
const clear = () => c.removeTokenCellsFromSequence(seqId, 0, -1);

let bestPP = Infinity, bestTG = Infinity;
for (let r = 0; r <= R; r++) {
    clear();
    const prompt = Array.from({length: P}, token);
    let t = process.hrtime.bigint();
    await decode(0, prompt);
    const pp = Number(process.hrtime.bigint() - t) / 1e9;
    clear();
    await decode(0, [token()]);
    t = process.hrtime.bigint();
    for (let i = 1; i <= N; i++) await decode(i, [token()]);
    const tg = Number(process.hrtime.bigint() - t) / 1e9;
    if (r === 0) continue; // warm-up: pages the weights in
    bestPP = Math.min(bestPP, pp);
    bestTG = Math.min(bestTG, tg);
}
console.log(JSON.stringify({
    model: modelPath, threads, pp_tokens: P, pp_tok_s: +(P / bestPP).toFixed(2),
    tg_tokens: N, tg_tok_s: +(N / bestTG).toFixed(2),
    engine: "llama.cpp via node-llama-cpp", llama_cpp: llama.llamaCppRelease, system_info: llama.systemInfo,
}));
await ctx.dispose();
await model.dispose();
await llama.dispose();
