import { readFileSync } from 'node:fs';

/**
 * Compares two V8 heap snapshots of one process (before and after opening N idle sockets)
 * and says what each socket costs on the JS heap, by constructor / kind.
 */
interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

function kind(type: string, name: string): string {
  switch (type) {
    case 'string':
    case 'concatenated string':
    case 'sliced string':
      return '(strings)';
    case 'code':
      return '(compiled code)';
    case 'hidden':
      return `(hidden) ${name}`;
    case 'array':
      return `(array) ${name}`;
    case 'closure':
      return `(closure) ${name || 'anonymous'}`;
    case 'native':
      return `(native) ${name}`;
    case 'number':
      return '(heap numbers)';
    default:
      return name || `(${type})`;
  }
}

export function heapCensus(file: string): Map<string, { count: number; bytes: number }> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const census = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const key = kind(types[snap.nodes[i + iType]!]!, snap.strings[snap.nodes[i + iName]!]!.slice(0, 60));
    const entry = census.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += snap.nodes[i + iSize]!;
    census.set(key, entry);
  }
  return census;
}

export function heapDiff(beforeFile: string, afterFile: string, sockets: number, top = 20): string {
  const before = heapCensus(beforeFile);
  const after = heapCensus(afterFile);
  const rows: { key: string; count: number; bytes: number }[] = [];
  for (const [key, a] of after) {
    const b = before.get(key) ?? { count: 0, bytes: 0 };
    rows.push({ key, count: a.count - b.count, bytes: a.bytes - b.bytes });
  }
  const total = rows.reduce((s, r) => s + r.bytes, 0);
  rows.sort((x, y) => y.bytes - x.bytes);
  return [
    `JS heap growth: ${(total / sockets / 1024).toFixed(2)} KiB per socket (${sockets} sockets); by kind, per socket:`,
    ...rows.slice(0, top).map((r) => `  ${(r.bytes / sockets).toFixed(0).padStart(6)} B  ${(r.count / sockets).toFixed(2).padStart(6)} objects  ${r.key}`),
  ].join('\n');
}
