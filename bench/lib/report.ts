import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { round } from './stats.js';

/**
 * The figures of one run, the reference each is compared with (measured in the same run),
 * and the targets of the performance issue. A figure that could not be measured is kept
 * with value null and its error, so the table still shows every row.
 */
export interface Target {
  /** value <= max */
  maxValue?: number;
  /** ratio = value / reference value */
  minRatio?: number;
  maxRatio?: number;
}

export interface FigureSpec {
  name: string;
  unit: string;
  reference: string | null;
  target?: Target;
  /** The same measured value as another figure, shown against a second reference. */
  sameAs?: string;
}

/** Table order: references first, then the service with the targets of the issue. */
export const FIGURES: FigureSpec[] = [
  { name: 'raw_ws_fanout', unit: 'deliveries/s', reference: null },
  { name: 'pg_insert_ceiling', unit: 'rows/s', reference: null },
  { name: 'naive_peer', unit: 'msgs/s', reference: null },
  { name: 'bare_select_route', unit: 'req/s', reference: null },
  { name: 'raw_ws_idle', unit: 'KiB/socket', reference: null },
  { name: 'raw_ws_p50_ms_at_half_load', unit: 'ms', reference: null },
  { name: 'raw_ws_p99_ms_at_half_load', unit: 'ms', reference: null },
  { name: 'persisted_msgs_per_s', unit: 'msgs/s', reference: 'naive_peer', target: { minRatio: 2.5 } },
  { name: 'persisted_msgs_per_s@pg_insert_ceiling', unit: 'msgs/s', reference: 'pg_insert_ceiling', target: { minRatio: 1.0 }, sameAs: 'persisted_msgs_per_s' },
  { name: 'deliveries_per_s', unit: 'deliveries/s', reference: 'raw_ws_fanout', target: { minRatio: 0.7 } },
  { name: 'p50_ms_at_half_load', unit: 'ms', reference: 'raw_ws_p50_ms_at_half_load' },
  { name: 'p99_ms_at_half_load', unit: 'ms', reference: 'raw_ws_p99_ms_at_half_load', target: { maxValue: 25 } },
  { name: 'kib_per_idle_socket', unit: 'KiB/socket', reference: 'raw_ws_idle', target: { maxRatio: 1.6 } },
  { name: 'history_p99_ms_newest', unit: 'ms', reference: null, target: { maxValue: 5 } },
  { name: 'history_p99_ms_deep_before_seq', unit: 'ms', reference: 'history_p99_ms_newest', target: { maxValue: 5, maxRatio: 1.5 } },
  { name: 'history_p99_ms_deep_offset', unit: 'ms', reference: 'history_p99_ms_newest', target: { maxValue: 5, maxRatio: 1.5 } },
  { name: 'get_group_rps', unit: 'req/s', reference: 'bare_select_route', target: { minRatio: 1.0 } },
  { name: 'embedded_persisted_msgs_per_s', unit: 'msgs/s', reference: 'persisted_msgs_per_s' },
];

export interface Figure {
  value: number | null;
  unit: string;
  reference: string | null;
  ratio: number | null;
  target: string;
  met: boolean | null;
  error?: string;
}

export class Results {
  private readonly values = new Map<string, number>();
  private readonly units = new Map<string, string>();
  private readonly errors = new Map<string, string>();
  private readonly extras: FigureSpec[] = [];

  set(name: string, value: number, unit?: string): void {
    this.values.set(name, value);
    if (unit) this.units.set(name, unit);
  }

  fail(name: string, err: unknown): void {
    this.errors.set(name, err instanceof Error ? err.message.split('\n')[0]! : String(err));
  }

  get(name: string): number | undefined {
    return this.values.get(name);
  }

  /** A figure beyond the issue's list (item 4 tables), kept after the listed ones. */
  extra(spec: FigureSpec, value: number): void {
    if (!this.extras.some((s) => s.name === spec.name)) this.extras.push(spec);
    this.values.set(spec.name, value);
  }

  figures(): Record<string, Figure> {
    const out: Record<string, Figure> = {};
    for (const spec of [...FIGURES, ...this.extras]) {
      const source = spec.sameAs ?? spec.name;
      const value = this.values.get(source);
      const refValue = spec.reference ? this.values.get(spec.reference) : undefined;
      const ratio = value !== undefined && refValue !== undefined && refValue !== 0 ? round(value / refValue, 2) : null;
      const error = this.errors.get(source) ?? (spec.reference ? this.errors.get(spec.reference) : undefined);
      out[spec.name] = {
        value: value === undefined ? null : round(value, value < 100 ? 2 : 0),
        unit: this.units.get(source) ?? spec.unit,
        reference: spec.reference,
        ratio,
        target: describeTarget(spec.target),
        met: judge(spec.target, value, ratio),
        ...(error && value === undefined ? { error } : {}),
      };
    }
    return out;
  }
}

function describeTarget(t: Target | undefined): string {
  if (!t) return '';
  const parts: string[] = [];
  if (t.maxValue !== undefined) parts.push(`<= ${t.maxValue}`);
  if (t.minRatio !== undefined) parts.push(`ratio >= ${t.minRatio}`);
  if (t.maxRatio !== undefined) parts.push(`ratio <= ${t.maxRatio}`);
  return parts.join(', ');
}

function judge(t: Target | undefined, value: number | undefined, ratio: number | null): boolean | null {
  if (!t) return null;
  if (value === undefined) return false;
  if (t.maxValue !== undefined && !(value <= t.maxValue)) return false;
  if ((t.minRatio !== undefined || t.maxRatio !== undefined) && ratio === null) return false;
  if (t.minRatio !== undefined && !(ratio! >= t.minRatio)) return false;
  if (t.maxRatio !== undefined && !(ratio! <= t.maxRatio)) return false;
  return true;
}

export function renderTable(figures: Record<string, Figure>): string {
  const header = ['figure', 'value', 'unit', 'reference', 'ratio', 'target', 'met?'];
  const rows = Object.entries(figures).map(([name, f]) => [
    name,
    f.value === null ? `error: ${f.error ?? 'not measured'}`.slice(0, 60) : f.value.toLocaleString('en-US'),
    f.unit,
    f.reference ?? '',
    f.ratio === null ? '' : f.ratio.toFixed(2),
    f.target,
    f.met === null ? '' : f.met ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 1 || i === 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  return [line(header), `|${widths.map((w, i) => (i === 1 || i === 4 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`, ...rows.map(line)].join('\n');
}

export function writeJson(file: string, figures: Record<string, Figure>): void {
  const slim: Record<string, { value: number | null; unit: string; reference: string | null; ratio: number | null }> = {};
  for (const [name, f] of Object.entries(figures)) slim[name] = { value: f.value, unit: f.unit, reference: f.reference, ratio: f.ratio };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ figures: slim }, null, 2)}\n`);
}
