/** "Did you mean …?" for mistyped setting names. */

/** Edits (insert, delete, substitute, swap two neighbours) to turn `a` into `b`: optimal string alignment. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** `RTC_AGENT_HUB_URL`, `hub_url`, `hub-url` and `HubURL` all normalise to `huburl`. */
function normalise(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, '').replace(/^rtcagent/, '');
}

/** The known name closest to `key`, if one is close enough to be a likely typo; else undefined. */
export function closestName(key: string, known: readonly string[]): string | undefined {
  const norm = normalise(key);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of known) {
    const d = editDistance(norm, normalise(name));
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  // Up to one edit per four characters (at least one): "hubUlr" → hubUrl, but "port" ↛ "name".
  return bestDistance <= Math.max(1, Math.floor(norm.length / 4)) ? best : undefined;
}
