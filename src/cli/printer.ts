/** Output discipline: data to stdout (text or JSON), messages and warnings to stderr, --quiet silences messages. */
export class Printer {
  constructor(
    readonly json: boolean,
    readonly quiet: boolean,
    readonly verboseOn: boolean,
    private readonly stdout: NodeJS.WritableStream = process.stdout,
    private readonly stderr: NodeJS.WritableStream = process.stderr,
  ) {}

  /** a line of data (text mode) */
  line(s = ''): void {
    this.stdout.write(s + '\n');
  }

  /** a JSON value on one line */
  jsonLine(v: unknown): void {
    this.stdout.write(JSON.stringify(v) + '\n');
  }

  /** a human message (suppressed by --quiet and --json) */
  info(s: string): void {
    if (!this.quiet && !this.json) this.stdout.write(s + '\n');
  }

  verbose(s: string): void {
    if (this.verboseOn) this.stderr.write(s + '\n');
  }

  warn(s: string, obj?: Record<string, unknown>): void {
    if (this.json) this.stderr.write(JSON.stringify({ message_type: 'error', ...obj, message: s }) + '\n');
    else this.stderr.write(`warning: ${s}\n`);
  }
}

export function table(rows: string[][], header: string[]): string[] {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(widths[i]))).join('  ').trimEnd();
  const sep = '-'.repeat(widths.reduce((s, w) => s + w + 2, -2));
  return [fmt(header), sep, ...rows.map(fmt), sep];
}

export function localTime(iso: string): string {
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function nsToIso(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const rest = ns % 1_000_000_000n;
  const d = new Date(Number(ms));
  if (Number.isNaN(d.getTime())) return ns.toString();
  const frac = ((rest + 1_000_000_000n) % 1_000_000_000n).toString().padStart(9, '0');
  return d.toISOString().replace(/\.\d{3}Z$/, `.${frac}Z`);
}
