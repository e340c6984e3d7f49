// The issue-5 workloads on piscina (worker threads). Prints piscina_rtt_us,
// piscina_throughput_per_s, piscina_echo64_ms, piscina_cold_ms,
// piscina_submit_burst_ms (medians). Usage: node piscina_bench.mjs [--quick]
import { Piscina } from 'piscina';
import { performance } from 'node:perf_hooks';

const quick = process.argv.includes('--quick');
const filename = new URL('./piscina_task.mjs', import.meta.url).href;
const median = (a) => { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const trials = quick ? 3 : 5;
const out = {};

{
  const pool = new Piscina({ filename, minThreads: 2, maxThreads: 2 });
  await Promise.all(Array.from({ length: 200 }, () => pool.run(null, { name: 'trivial' })));
  const rtts = [];
  for (let t = 0; t < trials; t++) {
    const n = quick ? 500 : 2000;
    const s = performance.now();
    for (let i = 0; i < n; i++) await pool.run(null, { name: 'trivial' });
    rtts.push((performance.now() - s) / n * 1000);
  }
  out.piscina_rtt_us = median(rtts);
  const rates = [], submits = [];
  for (let t = 0; t < (quick ? 1 : 3); t++) {
    const total = 100000;
    const s = performance.now();
    const ps = [];
    for (let i = 0; i < total; i++) ps.push(pool.run(null, { name: 'trivial' }));
    submits.push(performance.now() - s);
    await Promise.all(ps);
    rates.push(total / ((performance.now() - s) / 1000));
  }
  out.piscina_throughput_per_s = median(rates);
  out.piscina_submit_burst_ms = median(submits);
  const data = new Uint8Array(64 * 1024 * 1024);
  for (let i = 0; i < data.length; i++) data[i] = i & 255;
  const echos = [];
  for (let t = 0; t < trials; t++) {
    const s = performance.now();
    const back = await pool.run(data, { name: 'echo' });
    echos.push(performance.now() - s);
    if (back.length !== data.length) throw new Error('echo size');
  }
  out.piscina_echo64_ms = median(echos);
  await pool.destroy();
}
{
  const colds = [];
  for (let t = 0; t < trials + 2; t++) {
    const s = performance.now();
    const pool = new Piscina({ filename, minThreads: 1, maxThreads: 1 });
    await pool.run(null, { name: 'trivial' });
    colds.push(performance.now() - s);
    await pool.destroy();
  }
  out.piscina_cold_ms = median(colds);
}
for (const k of ['piscina_rtt_us', 'piscina_throughput_per_s', 'piscina_echo64_ms', 'piscina_cold_ms', 'piscina_submit_burst_ms'])
  console.log(`${k}: ${out[k].toFixed(1)}`);
