/**
 * interop/aspnet-hub for the benches: probe the SDK, build once (cached; rebuilt only when a source
 * is newer than the DLL), start it in a dotnet child with the same lifted limits as
 * bench/servers/hub-server.ts gives our hub, so the rate limiter is never what gets measured.
 */
import { startCommandChild, trackChild, type ServerChild } from '../lib/child.js';
import { ASPNET_DIR, DOTNET_ENV, aspNetHubArgs, aspNetHubUpToDate, ensureAspNetHubBuilt, probeDotnet } from '../../interop/support/aspnet-hub.js';

/** dotnet's first start (JIT, config) on a loaded machine. */
const START_TIMEOUT_MS = 30_000;

/** Makes sure the hub is built; says why not when there is no SDK or the build fails. */
export async function prepareAspNetHub(log: (line: string) => void): Promise<{ version: string } | { missing: string }> {
  const probe = probeDotnet();
  if ('missing' in probe) return probe;
  if (!aspNetHubUpToDate()) {
    log(`aspnet-hub: building (dotnet ${probe.version}, -c Release)...`);
    const t0 = performance.now();
    try {
      await ensureAspNetHubBuilt((child) => void trackChild(child));
    } catch (err) {
      return { missing: `dotnet build failed: ${err instanceof Error ? err.message : String(err)}` };
    }
    log(`aspnet-hub: built in ${Math.round(performance.now() - t0)} ms`);
  }
  return probe;
}

export function startAspNetHub(o: { maxPeersPerRoom?: number; extraArgs?: string[] } = {}): Promise<ServerChild> {
  const args = aspNetHubArgs([
    '--RoomHub:MessagesPerSecond',
    '1000000',
    '--RoomHub:MessageBurst',
    '1000000',
    '--RoomHub:MaxMessageBytes',
    String(64 * 1024),
    '--RoomHub:MaxPeersPerRoom',
    String(o.maxPeersPerRoom ?? 200),
    ...(o.extraArgs ?? []),
  ]);
  return startCommandChild('dotnet', args, 'aspnet-hub (dotnet RtcAgent.AspNetHub.dll)', { cwd: ASPNET_DIR, env: DOTNET_ENV, startTimeoutMs: START_TIMEOUT_MS });
}
