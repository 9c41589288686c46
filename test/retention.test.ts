/** Retention policy tables (pure planning: no repository, no clock, explicit time zones). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { SnapshotRef } from '../src/core/model/snapshot.js';
import { formatDuration, parseDuration } from '../src/core/retention/duration.js';
import { ZonedCalendar, isoWeek } from '../src/core/retention/calendar.js';
import { applyPolicy, describePolicy, policyIsEmpty, type RetentionPolicy } from '../src/core/retention/policy.js';
import { groupsKeepingNothing, parseGroupBy, planForget, planForgetIds } from '../src/core/retention/forget.js';

const FAR = new Date('2100-01-01T00:00:00Z');

function snap(time: string, o: { id?: string; host?: string; paths?: string[]; tags?: string[] } = {}): SnapshotRef {
  const id = o.id ?? createHash('sha256').update(time + JSON.stringify(o)).digest('hex');
  return {
    id,
    snapshot: { version: 1, time: new Date(time).toISOString(), tree: '0'.repeat(64), paths: o.paths ?? ['/home'], hostname: o.host ?? 'h', username: 'u', uid: 0, gid: 0, tags: o.tags ?? [], excludes: [], program_version: 'test' },
  };
}

/** kept snapshot times (ISO, oldest first) */
function kept(list: SnapshotRef[], p: RetentionPolicy, timeZone = 'UTC', now = FAR): string[] {
  return applyPolicy(list, p, { now, timeZone }).keep.map((r) => r.snapshot.time).sort();
}

function reasonsOf(list: SnapshotRef[], p: RetentionPolicy, timeZone = 'UTC', now = FAR): Map<string, string[]> {
  return new Map(applyPolicy(list, p, { now, timeZone }).reasons.map((r) => [r.snapshot.snapshot.time, r.matches]));
}

function iso(s: string): string {
  return new Date(s).toISOString();
}

const EARLIER = snap('2024-01-01T12:00Z');
const EARLIER_T = iso('2024-01-01T12:00Z');

/** one snapshot per day at 12:00 UTC from `from` to `to` inclusive */
function daily(from: string, to: string): SnapshotRef[] {
  const out: SnapshotRef[] = [];
  for (let t = Date.parse(`${from}T12:00:00Z`); t <= Date.parse(`${to}T12:00:00Z`); t += 86_400_000) out.push(snap(new Date(t).toISOString()));
  return out;
}

test('durations: restic syntax, each unit once, any order; errors name the problem', () => {
  assert.deepEqual(parseDuration('1y2m3d4h'), { years: 1, months: 2, days: 3, hours: 4 });
  assert.deepEqual(parseDuration('7d'), { years: 0, months: 0, days: 7, hours: 0 });
  assert.deepEqual(parseDuration('36h'), { years: 0, months: 0, days: 0, hours: 36 });
  assert.deepEqual(parseDuration('2m1y'), { years: 1, months: 2, days: 0, hours: 0 });
  assert.equal(formatDuration(parseDuration('2m1y')), '1y2m');
  assert.equal(formatDuration(parseDuration('0d')), '0h');
  for (const bad of ['', '5', 'd', '1w', '1d1d', '1.5d', '-1d', '1d ', 'x1d']) assert.throws(() => parseDuration(bad), { code: 'ERR_USAGE' }, bad);
});

test('ISO weeks: Monday starts a week; week 1 holds the first Thursday', () => {
  const cases: [number, number, number, number, number][] = [
    [2024, 12, 30, 2025, 1],
    [2024, 12, 29, 2024, 52],
    [2021, 1, 3, 2020, 53],
    [2021, 1, 4, 2021, 1],
    [2020, 12, 31, 2020, 53],
    [2026, 1, 1, 2026, 1],
    [2027, 1, 1, 2026, 53],
    [2024, 11, 3, 2024, 44],
    [2024, 11, 4, 2024, 45],
  ];
  for (const [y, m, d, wy, w] of cases) assert.deepEqual(isoWeek(y, m, d), { year: wy, week: w }, `${y}-${m}-${d}`);
});

test('zoned calendar: wall time and offset in Berlin and New York around DST', () => {
  const berlin = new ZonedCalendar('Europe/Berlin');
  assert.deepEqual(berlin.wall(Date.parse('2024-03-31T00:59:59Z')), { year: 2024, month: 3, day: 31, hour: 1, minute: 59, second: 59, offset: 60 });
  assert.deepEqual(berlin.wall(Date.parse('2024-03-31T01:00:00Z')), { year: 2024, month: 3, day: 31, hour: 3, minute: 0, second: 0, offset: 120 });
  assert.equal(berlin.wall(Date.parse('2024-10-27T00:30:00Z')).hour, 2);
  assert.equal(berlin.wall(Date.parse('2024-10-27T01:30:00Z')).hour, 2);
  const ny = new ZonedCalendar('America/New_York');
  assert.deepEqual(ny.wall(Date.parse('2024-11-04T04:30:00.750Z')), { year: 2024, month: 11, day: 3, hour: 23, minute: 30, second: 0, offset: -300 });
  // calendar arithmetic: one day before 10:00 CEST on the short day is 10:00 CET (23 hours earlier)
  assert.equal(new Date(berlin.subtract(Date.parse('2024-03-31T08:00:00Z'), parseDuration('1d'))).toISOString(), '2024-03-30T09:00:00.000Z');
  assert.equal(new Date(berlin.subtract(Date.parse('2024-03-31T08:00:00Z'), parseDuration('24h'))).toISOString(), '2024-03-30T08:00:00.000Z');
  // Go's AddDate normalisation: 31 March minus one month is "31 February" = 2 March (2024 is a leap year)
  assert.equal(new Date(new ZonedCalendar('UTC').subtract(Date.parse('2024-03-31T12:00:00Z'), parseDuration('1m'))).toISOString(), '2024-03-02T12:00:00.000Z');
  assert.throws(() => new ZonedCalendar('Mars/Olympus'), RangeError);
});

test('keep-last: the n newest; unlimited keeps all; 0 means the rule is unused', () => {
  const list = daily('2024-01-01', '2024-01-10');
  assert.deepEqual(kept(list, { last: 3 }), [iso('2024-01-08T12:00Z'), iso('2024-01-09T12:00Z'), iso('2024-01-10T12:00Z')]);
  assert.equal(kept(list, { last: Infinity }).length, 10);
  assert.equal(kept(list, { last: 100 }).length, 10);
  assert.ok(policyIsEmpty({ last: 0, daily: 0, tags: [] }));
  assert.deepEqual([...reasonsOf(list, { last: 1 }).values()], [['last snapshot']]);
});

test('keep-hourly and keep-daily: newest snapshot of each period; the oldest too while counts remain (restic)', () => {
  const list: SnapshotRef[] = [];
  for (let t = Date.parse('2024-05-01T00:10:00Z'); t < Date.parse('2024-05-01T03:00:00Z'); t += 20 * 60_000) list.push(snap(new Date(t).toISOString()));
  assert.deepEqual(kept(list, { hourly: 2 }), [iso('2024-05-01T01:50Z'), iso('2024-05-01T02:50Z')]);
  assert.deepEqual(kept(list, { hourly: 10 }), [iso('2024-05-01T00:10Z'), iso('2024-05-01T00:50Z'), iso('2024-05-01T01:50Z'), iso('2024-05-01T02:50Z')]);
  assert.deepEqual(reasonsOf(list, { hourly: 10 }).get(iso('2024-05-01T00:10Z')), ['oldest hourly snapshot']);

  const sixHourly: SnapshotRef[] = [];
  for (let t = Date.parse('2024-05-01T03:00:00Z'); t < Date.parse('2024-05-06T00:00:00Z'); t += 6 * 3_600_000) sixHourly.push(snap(new Date(t).toISOString()));
  assert.deepEqual(kept(sixHourly, { daily: 3 }), [iso('2024-05-03T21:00Z'), iso('2024-05-04T21:00Z'), iso('2024-05-05T21:00Z')]);
  assert.deepEqual(kept(sixHourly, { daily: 7 }), [iso('2024-05-01T03:00Z'), iso('2024-05-01T21:00Z'), iso('2024-05-02T21:00Z'), iso('2024-05-03T21:00Z'), iso('2024-05-04T21:00Z'), iso('2024-05-05T21:00Z')]);
});

test('daily 7, weekly 5, monthly 12, yearly 3 over two years of daily snapshots', () => {
  const list = daily('2023-01-01', '2024-12-31');
  const p: RetentionPolicy = { daily: 7, weekly: 5, monthly: 12, yearly: 3 };
  const expected = [
    '2023-01-01', // oldest: the yearly rule still had a count left
    '2023-12-31',
    '2024-01-31', '2024-02-29', '2024-03-31', '2024-04-30', '2024-05-31', '2024-06-30', '2024-07-31', '2024-08-31', '2024-09-30', '2024-10-31', '2024-11-30',
    '2024-12-08', '2024-12-15', '2024-12-22', // Sundays: the newest day of ISO weeks 49-51
    '2024-12-25', '2024-12-26', '2024-12-27', '2024-12-28', '2024-12-29', '2024-12-30', '2024-12-31',
  ].map((d) => iso(`${d}T12:00Z`));
  assert.deepEqual(kept(list, p), expected);
  const r = reasonsOf(list, p);
  assert.deepEqual(r.get(iso('2024-12-31T12:00Z')), ['daily snapshot', 'weekly snapshot', 'monthly snapshot', 'yearly snapshot']);
  assert.deepEqual(r.get(iso('2024-12-29T12:00Z')), ['daily snapshot', 'weekly snapshot']);
  assert.deepEqual(r.get(iso('2023-12-31T12:00Z')), ['yearly snapshot']);
  assert.deepEqual(r.get(iso('2023-01-01T12:00Z')), ['oldest yearly snapshot']);
  const res = applyPolicy(list, p, { now: FAR, timeZone: 'UTC' });
  assert.equal(res.keep.length + res.remove.length, list.length);
  assert.equal(res.keep[0].snapshot.time, iso('2024-12-31T12:00Z'), 'newest first');
  assert.equal(describePolicy(p), 'keep 7 daily, 5 weekly, 12 monthly, 3 yearly snapshots');
});

test('keep-last and keep-daily combined: a snapshot kept by both counts for both', () => {
  const list = [snap('2024-01-01T08:00Z'), snap('2024-01-01T20:00Z'), snap('2024-01-02T08:00Z'), snap('2024-01-02T20:00Z'), snap('2024-01-03T08:00Z')];
  assert.deepEqual(kept(list, { last: 2, daily: 2 }), [iso('2024-01-02T20:00Z'), iso('2024-01-03T08:00Z')]);
  assert.deepEqual(kept(list, { last: 3, daily: 2 }), [iso('2024-01-02T08:00Z'), iso('2024-01-02T20:00Z'), iso('2024-01-03T08:00Z')]);
});

test('keep-within: relative to the newest snapshot (not the clock); strictly newer than the cutoff; calendar months', () => {
  const list = daily('2024-03-01', '2024-03-31');
  assert.deepEqual(kept(list, { within: parseDuration('2d') }), [iso('2024-03-30T12:00Z'), iso('2024-03-31T12:00Z')]);
  // one month before 31 March is 2 March (Go's AddDate); 2 March itself is not strictly newer
  assert.deepEqual(kept(list, { within: parseDuration('1m') }), daily('2024-03-03', '2024-03-31').map((r) => r.snapshot.time));
  assert.deepEqual(kept(list, { within: parseDuration('1d12h') }), [iso('2024-03-30T12:00Z'), iso('2024-03-31T12:00Z')]);
  assert.equal(kept(list, { within: parseDuration('1y') }).length, 31);
  assert.deepEqual(reasonsOf(list, { within: parseDuration('1d') }).get(iso('2024-03-31T12:00Z')), ['within 1d']);
  // snapshots from the future (clock skew) do not move the reference: the newest one not after "now" does
  const now = new Date('2024-03-20T13:00Z');
  assert.deepEqual(kept(list, { within: parseDuration('2d') }, 'UTC', now), daily('2024-03-19', '2024-03-31').map((r) => r.snapshot.time));
  // the result never depends on the wall clock of the run
  assert.deepEqual(kept(list, { within: parseDuration('2d') }, 'UTC', new Date('2030-01-01Z')), kept(list, { within: parseDuration('2d') }));
});

test('keep-within-daily / -weekly: one per period, only inside the window', () => {
  const list: SnapshotRef[] = [];
  for (let t = Date.parse('2024-06-01T06:00Z'); t <= Date.parse('2024-06-20T18:00Z'); t += 12 * 3_600_000) list.push(snap(new Date(t).toISOString()));
  assert.deepEqual(kept(list, { withinDaily: parseDuration('3d') }), [iso('2024-06-18T18:00Z'), iso('2024-06-19T18:00Z'), iso('2024-06-20T18:00Z')]);
  // window from 2024-06-06T18:00Z: weeks 23 (ends Sun 9 June), 24, 25
  assert.deepEqual(kept(list, { withinWeekly: parseDuration('14d') }), [iso('2024-06-09T18:00Z'), iso('2024-06-16T18:00Z'), iso('2024-06-20T18:00Z')]);
  assert.deepEqual(reasonsOf(list, { withinDaily: parseDuration('3d') }).get(iso('2024-06-20T18:00Z')), ['daily within 3d']);
});

test('keep-tag: comma = all of these tags, repeated = any list; tags are not counted', () => {
  const list = [
    snap('2024-01-01T00:00Z', { tags: ['a'] }),
    snap('2024-01-02T00:00Z', { tags: ['a', 'b'] }),
    snap('2024-01-03T00:00Z', { tags: ['c'] }),
    snap('2024-01-04T00:00Z'),
  ];
  assert.deepEqual(kept(list, { tags: [['a', 'b']] }), [iso('2024-01-02T00:00Z')]);
  assert.deepEqual(kept(list, { tags: [['a'], ['c']] }), [iso('2024-01-01T00:00Z'), iso('2024-01-02T00:00Z'), iso('2024-01-03T00:00Z')]);
  assert.deepEqual(kept(list, { tags: [['c']], last: 1 }), [iso('2024-01-03T00:00Z'), iso('2024-01-04T00:00Z')]);
  assert.deepEqual(reasonsOf(list, { tags: [['a'], ['a', 'b']] }).get(iso('2024-01-02T00:00Z')), ['tag a', 'tag a,b']);
  assert.deepEqual(kept(list, { tags: [['nope']] }), []);
});

test('ties at the same instant: ordered by id, a bucket keeps exactly one, whatever the input order', () => {
  const ids = ['a', 'c', 'b'].map((c) => c.repeat(64));
  const ties = ids.map((id) => snap('2024-02-02T10:00:00Z', { id }));
  const older = snap('2024-02-01T10:00:00Z', { id: 'd'.repeat(64) });
  for (const order of [[...ties, older], [older, ...ties].reverse(), [ties[2], older, ties[0], ties[1]]]) {
    const daily1 = applyPolicy(order, { daily: 1 }, { now: FAR, timeZone: 'UTC' });
    assert.deepEqual(daily1.keep.map((r) => r.id), ['c'.repeat(64)]);
    assert.deepEqual(daily1.remove.map((r) => r.id), ['b'.repeat(64), 'a'.repeat(64), 'd'.repeat(64)]);
    assert.deepEqual(applyPolicy(order, { daily: 2 }, { now: FAR, timeZone: 'UTC' }).keep.map((r) => r.id), ['c'.repeat(64), 'd'.repeat(64)]);
    assert.deepEqual(applyPolicy(order, { last: 2 }, { now: FAR, timeZone: 'UTC' }).keep.map((r) => r.id), ['c'.repeat(64), 'b'.repeat(64)]);
    assert.deepEqual(applyPolicy(order, { within: parseDuration('1h') }, { now: FAR, timeZone: 'UTC' }).keep.length, 3, 'all ties are within');
  }
});

test('DST in Europe/Berlin: the 23-hour and the 25-hour day are each one day; the repeated hour is two hours', () => {
  // spring forward 2024-03-31 02:00 CET -> 03:00 CEST (01:00Z)
  // every list starts with an earlier snapshot on a day of its own, so that restic's "keep the oldest too" rule
  // does not hide how the DST days are bucketed
  const spring = [
    EARLIER,
    snap('2024-03-30T22:30Z'), // 30 March 23:30 CET
    snap('2024-03-30T23:30Z'), // 31 March 00:30 CET
    snap('2024-03-31T21:59Z'), // 31 March 23:59 CEST
    snap('2024-03-31T22:30Z'), // 1 April 00:30 CEST
  ];
  assert.deepEqual(kept(spring, { daily: Infinity }, 'Europe/Berlin'), [EARLIER_T, iso('2024-03-30T22:30Z'), iso('2024-03-31T21:59Z'), iso('2024-03-31T22:30Z')]);
  assert.deepEqual(kept(spring, { daily: Infinity }, 'UTC'), [EARLIER_T, iso('2024-03-30T23:30Z'), iso('2024-03-31T22:30Z')], 'UTC days differ');
  // fall back 2024-10-27 03:00 CEST -> 02:00 CET (01:00Z): the day runs from 22:00Z to 23:00Z next day
  const fall = [
    EARLIER,
    snap('2024-10-26T21:59Z'), // 26 Oct 23:59 CEST
    snap('2024-10-26T22:00Z'), // 27 Oct 00:00 CEST
    snap('2024-10-27T22:59Z'), // 27 Oct 23:59 CET
    snap('2024-10-27T23:00Z'), // 28 Oct 00:00 CET
  ];
  assert.deepEqual(kept(fall, { daily: Infinity }, 'Europe/Berlin'), [EARLIER_T, iso('2024-10-26T21:59Z'), iso('2024-10-27T22:59Z'), iso('2024-10-27T23:00Z')]);
  const hours = [EARLIER, snap('2024-10-27T00:10Z'), snap('2024-10-27T00:50Z'), snap('2024-10-27T01:30Z'), snap('2024-10-27T02:30Z')];
  // 02:10 and 02:50 CEST share an hour; 02:30 CET is the second 02:00-03:00; 03:30 CET another
  assert.deepEqual(kept(hours, { hourly: Infinity }, 'Europe/Berlin'), [EARLIER_T, iso('2024-10-27T00:50Z'), iso('2024-10-27T01:30Z'), iso('2024-10-27T02:30Z')]);
  // keep-within 1d steps back one wall-clock day (23 hours here), 24h exactly 24 hours
  const within = [snap('2024-03-30T08:30Z'), snap('2024-03-30T09:30Z'), snap('2024-03-31T08:00Z')];
  assert.deepEqual(kept(within, { within: parseDuration('1d') }, 'Europe/Berlin'), [iso('2024-03-30T09:30Z'), iso('2024-03-31T08:00Z')]);
  assert.deepEqual(kept(within, { within: parseDuration('24h') }, 'Europe/Berlin'), [iso('2024-03-30T08:30Z'), iso('2024-03-30T09:30Z'), iso('2024-03-31T08:00Z')]);
});

test('DST in America/New_York: days and ISO weeks follow the local calendar', () => {
  // fall back 2024-11-03 02:00 EDT -> 01:00 EST (06:00Z); 3 November lasts 25 hours
  const fall = [
    EARLIER,
    snap('2024-11-03T04:30Z'), // 3 Nov 00:30 EDT (Sunday)
    snap('2024-11-04T04:30Z'), // 3 Nov 23:30 EST (Sunday)
    snap('2024-11-04T05:30Z'), // 4 Nov 00:30 EST (Monday)
  ];
  assert.deepEqual(kept(fall, { daily: Infinity }, 'America/New_York'), [EARLIER_T, iso('2024-11-04T04:30Z'), iso('2024-11-04T05:30Z')]);
  assert.deepEqual(kept(fall, { weekly: Infinity }, 'America/New_York'), [EARLIER_T, iso('2024-11-04T04:30Z'), iso('2024-11-04T05:30Z')]);
  assert.deepEqual(kept(fall, { weekly: 1 }, 'America/New_York'), [iso('2024-11-04T05:30Z')]);
  assert.deepEqual(kept(fall, { weekly: 1 }, 'UTC'), [iso('2024-11-04T05:30Z')]);
  assert.deepEqual(kept(fall, { daily: 1 }, 'UTC'), [iso('2024-11-04T05:30Z')]);
  assert.deepEqual(kept(fall.slice(1, 3), { daily: 1 }, 'UTC'), [iso('2024-11-04T04:30Z')]);
  // spring forward 2024-03-10 02:00 EST -> 03:00 EDT (07:00Z); 10 March lasts 23 hours
  const spring = [
    EARLIER,
    snap('2024-03-10T05:00Z'), // 10 Mar 00:00 EST
    snap('2024-03-11T03:59Z'), // 10 Mar 23:59 EDT
    snap('2024-03-11T04:00Z'), // 11 Mar 00:00 EDT
  ];
  assert.deepEqual(kept(spring, { daily: 1 }, 'America/New_York'), [iso('2024-03-11T04:00Z')]);
  assert.deepEqual(kept(spring, { daily: Infinity }, 'America/New_York'), [EARLIER_T, iso('2024-03-11T03:59Z'), iso('2024-03-11T04:00Z')]);
  assert.deepEqual(kept(spring, { monthly: Infinity }, 'America/New_York'), [EARLIER_T, iso('2024-03-11T04:00Z')]);
});

test('grouping: host and paths by default, any set of fields, or none; one policy per group', () => {
  const list = [
    snap('2024-01-01T00:00Z', { host: 'a', paths: ['/x'] }),
    snap('2024-01-02T00:00Z', { host: 'a', paths: ['/x'] }),
    snap('2024-01-03T00:00Z', { host: 'b', paths: ['/x'], tags: ['t', 'u'] }),
    snap('2024-01-04T00:00Z', { host: 'b', paths: ['/x'], tags: ['u', 't'] }),
    snap('2024-01-05T00:00Z', { host: 'a', paths: ['/y', '/x'] }),
    snap('2024-01-06T00:00Z', { host: 'a', paths: ['/x', '/y'] }),
  ];
  const ctx = { now: FAR, timeZone: 'UTC' };
  const byDefault = planForget(list, { last: 1 }, { ...ctx, groupBy: parseGroupBy('host,paths') });
  assert.deepEqual(byDefault.groups.map((g) => g.key), [{ host: 'a', paths: ['/x'] }, { host: 'a', paths: ['/x', '/y'] }, { host: 'b', paths: ['/x'] }]);
  assert.deepEqual(byDefault.groups.map((g) => g.keep.map((r) => r.snapshot.time)), [[iso('2024-01-02T00:00Z')], [iso('2024-01-06T00:00Z')], [iso('2024-01-04T00:00Z')]]);
  assert.equal(byDefault.remove.length, 3);
  const none = planForget(list, { last: 1 }, { ...ctx, groupBy: parseGroupBy('') });
  assert.deepEqual(none.groups.map((g) => g.key), [{}]);
  assert.equal(none.remove.length, 5);
  const byTags = planForget(list, { last: 1 }, { ...ctx, groupBy: parseGroupBy('tags') });
  assert.deepEqual(byTags.groups.map((g) => g.key), [{ tags: [] }, { tags: ['t', 'u'] }], 'tag order does not split a group');
  assert.deepEqual(parseGroupBy(' host , tags,host'), ['host', 'tags']);
  assert.throws(() => parseGroupBy('hostname'), { code: 'ERR_USAGE' });
});

test('empty input, empty policy, a policy that keeps nothing, explicit ids', () => {
  const ctx = { now: FAR, timeZone: 'UTC', groupBy: parseGroupBy('host,paths') };
  assert.deepEqual(planForget([], { daily: 7 }, ctx), { groups: [], remove: [] });
  assert.deepEqual(applyPolicy([], { last: 1 }, ctx), { keep: [], remove: [], reasons: [] });
  const list = [snap('2024-01-01T00:00Z', { host: 'a' }), snap('2024-01-02T00:00Z', { host: 'b', tags: ['keep'] })];
  const empty = planForget(list, {}, ctx);
  assert.deepEqual(empty.remove, []);
  assert.deepEqual(empty.groups[0].reasons[0].matches, ['policy is empty']);
  const tagOnly = planForget(list, { tags: [['keep']] }, ctx);
  assert.deepEqual(groupsKeepingNothing(tagOnly).map((g) => g.key), [{ host: 'a', paths: ['/home'] }]);
  assert.deepEqual(tagOnly.remove, [list[0].id]);
  const ids = planForgetIds([list[0], list[1], list[0]]);
  assert.deepEqual(ids.remove, [list[1].id, list[0].id], 'each once, newest first');
  assert.deepEqual(groupsKeepingNothing(ids).length, 1);
  assert.deepEqual(planForgetIds([]), { groups: [], remove: [] });
});
