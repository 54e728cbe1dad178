// The queue benchmark's flow through BullMQ, for `bench queue` (bench/src/bullmq.rs) to compare
// with: N no-op jobs, `producers` tasks each calling `queue.add` per job (as the Rust producers
// call `enqueue`), `workers` Workers of `concurrency` each, the production policy (4 attempts,
// exponential backoff from 1 s, keep 100 completed / 50 failed, 30 s locks). The producers share
// one Queue, as a BullMQ process would (`--pool N` spreads them over N Queues: slower for BullMQ
// here, measured). Timed from the first add to the last completion, with the workers connected
// and waiting. Everything lives under `--prefix`, removed at the end.
//
// Prints one JSON line on stdout: jobs, seconds, jobs_per_second, and the CPU per job (µs) of
// this process and of Redis over the timed window. Progress and errors go to stderr.
//
//   REDIS_URL=redis://127.0.0.1:6379/0 node run.mjs --prefix hn_bench_x:bullmq1 --jobs 20000 \
//     --producers 8 --workers 4 --concurrency 32
// (or --redis-url URL; a password is better kept out of the arguments).
import { readFileSync } from 'node:fs';
import { Queue, Worker } from 'bullmq';

const SETTLE_MS = 500; // workers blocked in their first fetch before the clock starts
const DEADLINE_MS = 300_000; // a run longer than this is broken, not slow

function parseArgs(argv) {
  const opts = {
    redisUrl: process.env.REDIS_URL || 'redis://127.0.0.1:6379/0',
    prefix: null,
    jobs: 20_000,
    producers: 8,
    workers: 4,
    concurrency: 32,
    pool: 1,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [name, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${name} needs a value`);
    switch (name) {
      case '--redis-url': opts.redisUrl = value; break;
      case '--prefix': opts.prefix = value; break;
      case '--jobs': case '--producers': case '--workers': case '--concurrency': case '--pool': {
        const n = Number(value);
        if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive whole number`);
        opts[name.slice(2)] = n;
        break;
      }
      default: throw new Error(`unknown option ${name}`);
    }
  }
  if (!opts.prefix) throw new Error('--prefix is required (a fresh key prefix for this run)');
  return opts;
}

function connectionOptions(url) {
  const u = new URL(url);
  if (u.protocol !== 'redis:') throw new Error(`only redis:// URLs are supported, got ${u.protocol}`);
  return {
    host: u.hostname || '127.0.0.1',
    port: Number(u.port || 6379),
    db: Number(u.pathname.replace('/', '') || 0),
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    // BullMQ requires this for its blocking worker connections.
    maxRetriesPerRequest: null,
  };
}

async function redisCpuSeconds(client) {
  const info = await client.info('cpu');
  const field = (name) => Number((info.match(new RegExp(`^${name}:([0-9.]+)`, 'm')) || [])[1] || 0);
  return field('used_cpu_user') + field('used_cpu_sys');
}

async function deleteKeys(client, pattern) {
  let cursor = '0';
  let removed = 0;
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) removed += await client.del(...keys);
  } while (cursor !== '0');
  return removed;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const connection = connectionOptions(opts.redisUrl);
  const name = 'bench';
  const defaultJobOptions = {
    attempts: 4,
    backoff: { type: 'exponential', delay: 1000 },
    removeOnComplete: 100,
    removeOnFail: 50,
  };
  const queues = Array.from({ length: opts.pool }, () =>
    new Queue(name, { connection, prefix: opts.prefix, defaultJobOptions }));

  let completed = 0;
  let failed = 0;
  let finishedAt = 0;
  let allDone;
  const done = new Promise((resolve) => { allDone = resolve; });
  const workers = Array.from({ length: opts.workers }, () => {
    const worker = new Worker(name, async () => {}, {
      connection,
      prefix: opts.prefix,
      concurrency: opts.concurrency,
      lockDuration: 30_000,
    });
    worker.on('completed', () => {
      completed += 1;
      if (completed === opts.jobs) {
        finishedAt = performance.now();
        allDone();
      }
    });
    worker.on('failed', () => { failed += 1; });
    worker.on('error', (e) => console.error(`bullmq worker error: ${e.message}`));
    return worker;
  });

  let outcome;
  try {
    await Promise.all([...queues.map((q) => q.waitUntilReady()), ...workers.map((w) => w.waitUntilReady())]);
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const admin = await queues[0].client;

    const redisBefore = await redisCpuSeconds(admin);
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const producers = Array.from({ length: Math.min(opts.producers, opts.jobs) }, async (_, first) => {
      const queue = queues[first % queues.length];
      for (let i = first; i < opts.jobs; i += opts.producers) {
        await queue.add('noop', { i }, { jobId: `j${i}` });
      }
    });
    await Promise.all(producers);
    let timer;
    const deadline = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(
        `only ${completed} of ${opts.jobs} jobs completed within ${DEADLINE_MS / 1000} s`)), DEADLINE_MS);
    });
    await Promise.race([done, deadline]).finally(() => clearTimeout(timer));
    const cpu = process.cpuUsage(cpuBefore);
    const redisAfter = await redisCpuSeconds(admin);

    const counts = await queues[0].getJobCounts('wait', 'active', 'delayed', 'completed', 'failed');
    const kept = Math.min(opts.jobs, defaultJobOptions.removeOnComplete);
    if (failed > 0 || counts.failed + counts.delayed + counts.wait + counts.active > 0 || counts.completed !== kept) {
      throw new Error(`BullMQ ended in an unexpected state: ${JSON.stringify(counts)}, ${failed} failed attempts`);
    }
    const seconds = (finishedAt - started) / 1000;
    const bullmqVersion = JSON.parse(readFileSync(
      new URL('./node_modules/bullmq/package.json', import.meta.url), 'utf8')).version;
    outcome = {
      jobs: opts.jobs,
      seconds,
      jobs_per_second: opts.jobs / seconds,
      node_cpu_us_per_job: (cpu.user + cpu.system) / opts.jobs,
      redis_cpu_us_per_job: ((redisAfter - redisBefore) * 1e6) / opts.jobs,
      bullmq_version: bullmqVersion,
      node_version: process.version,
    };
  } finally {
    await Promise.allSettled(workers.map((w) => w.close(true)));
    try {
      const admin = await queues[0].client;
      const removed = await deleteKeys(admin, `${opts.prefix}:*`);
      console.error(`bullmq: removed ${removed} Redis keys under ${opts.prefix}:`);
    } finally {
      await Promise.allSettled(queues.map((q) => q.close()));
    }
  }
  process.stdout.write(`${JSON.stringify(outcome)}\n`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`bullmq bench: ${e && e.stack ? e.stack : e}`);
    process.exit(1);
  },
);
