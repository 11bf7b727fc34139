import { readFileSync } from 'node:fs';

/**
 * Reads a V8 .cpuprofile (node --cpu-prof) and says where the time went:
 * - top functions by self time;
 * - self time by origin (the service's own code, each npm package, node internals, GC, idle);
 * - for the service's own functions, the time of everything called beneath them that is
 *   not itself service code (libraries, node, the ws/pg internals they drive), attributed
 *   to the nearest service frame on the stack.
 * With a window (CLOCK_MONOTONIC µs, the clock of both V8's profile timestamps and
 * process.hrtime), only the samples inside it count: start-up and set-up are left out.
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function origin(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return 'node internals';
  if (url.includes('/.bench/build/') || url.includes('/dist/') || url.includes('/src/')) return 'service code';
  return url;
}

function shortUrl(url: string): string {
  return url
    .replace(/^file:\/\//, '')
    .replace(/.*\/node_modules\//, '')
    .replace(/.*\/\.bench\/build\//, 'src/')
    .replace(/.*\/dist\//, 'src/');
}

function isServiceFrame(url: string): boolean {
  return origin(url, '') === 'service code';
}

const pct = (part: number, whole: number) => `${((part / whole) * 100).toFixed(1).padStart(5)}%`;

export function summariseProfile(file: string, window?: { fromUs: number; toUs: number }, top = 25): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const selfUs = new Map<number, number>();
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
  }
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  let idle = 0;
  const byFunction = new Map<string, number>();
  const byOrigin = new Map<string, number>();
  const byServiceFrame = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const name = functionName || '(anonymous)';
    if (name === '(idle)') {
      idle += us;
      continue;
    }
    const key = url ? `${name}  ${shortUrl(url)}:${lineNumber + 1}` : name;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    const o = origin(url, name);
    byOrigin.set(o, (byOrigin.get(o) ?? 0) + us);
    // nearest service frame at or above this sample
    let cursor: number | undefined = id;
    let owner = '(no service frame on the stack)';
    while (cursor !== undefined) {
      const f = byId.get(cursor)!.callFrame;
      if (isServiceFrame(f.url)) {
        owner = `${f.functionName || '(anonymous)'}  ${shortUrl(f.url)}:${f.lineNumber + 1}`;
        break;
      }
      cursor = parent.get(cursor);
    }
    byServiceFrame.set(owner, (byServiceFrame.get(owner) ?? 0) + us);
  }
  const busy = total - idle;
  const rank = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, us]) => `  ${(us / 1000).toFixed(0).padStart(7)} ms ${pct(us, busy)}  ${k}`)
      .join('\n');
  return [
    `profile ${file}${window ? ' (the measurement window only)' : ''}`,
    `  sampled ${(total / 1e6).toFixed(1)} s, of which idle ${pct(idle, total)}; percentages below are of the busy ${(busy / 1e6).toFixed(1)} s`,
    'self time by origin:',
    rank(byOrigin, 15),
    `top ${top} functions by self time:`,
    rank(byFunction, top),
    'time by the nearest service function on the stack (its own time + the libraries it calls):',
    rank(byServiceFrame, 20),
  ].join('\n');
}
