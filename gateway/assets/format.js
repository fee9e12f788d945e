// Times, durations and the small conversions the dashboard shows.

/** Accepts epoch milliseconds, epoch seconds, or an ISO/RFC 3339 string; returns a Date or null. */
export function toDate(value) {
  if (value === null || value === undefined || value === '') return null;
  if (typeof value === 'number') {
    // Seconds would land in 1970 when read as milliseconds.
    return new Date(value < 1e11 ? value * 1000 : value);
  }
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
  day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit',
});

/** Local wall-clock time, e.g. 20:14:02. */
export function formatTime(value) {
  const d = toDate(value);
  return d ? timeFmt.format(d) : '';
}

/** Local date and time, e.g. 23 Nov, 20:14. */
export function formatDateTime(value) {
  const d = toDate(value);
  return d ? dateTimeFmt.format(d) : '';
}

/** A duration in words: "42 s", "3 min 05 s", "1 h 02 min". */
export function formatDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '';
  const total = Math.floor(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h} h ${String(m).padStart(2, '0')} min`;
  if (m > 0) return `${m} min ${String(s).padStart(2, '0')} s`;
  return `${s} s`;
}

/** "1 message", "2 messages". */
export function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
