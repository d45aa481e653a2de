#!/usr/bin/env node
// `npm test`: runs vitest, inside a fresh network namespace that has only `lo` when this machine
// allows it (root and unshare, as on CI). There every ICE agent — node-datachannel, Chromium,
// coturn — can only gather and check loopback candidates, whatever interfaces the host has.
// RTC_AGENT_TEST_NETNS=0 runs on the host network instead.
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
// scripts/vitest-run.mjs runs vitest, and once more any file whose test process froze in native code.
const vitest = [process.execPath, 'scripts/vitest-run.mjs', ...args];
const quote = (s) => `'${s.replace(/'/g, `'\\''`)}'`;

function namespaceWorks() {
  if (process.env.RTC_AGENT_TEST_NETNS === '0' || process.platform !== 'linux') return false;
  return spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up'], { stdio: 'ignore' }).status === 0;
}

// The tests build interop/aspnet-hub (the ASP.NET Core hub) inside the namespace, where no NuGet
// feed is reachable: restore its packages into the NuGet cache first, on the host network.
function restoreAspNetHub() {
  const env = { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: '1', DOTNET_NOLOGO: '1', DOTNET_CLI_USE_MSBUILD_SERVER: '0', MSBUILDDISABLENODEREUSE: '1' };
  if (spawnSync('dotnet', ['--version'], { stdio: 'ignore', env }).status !== 0) return;
  const r = spawnSync('dotnet', ['restore', 'interop/aspnet-hub', '--nologo', '-v:q', '-nodeReuse:false'], { stdio: ['ignore', 'pipe', 'pipe'], env, encoding: 'utf8', timeout: 180_000 });
  if (r.status !== 0) console.log(`dotnet restore of interop/aspnet-hub failed; the ASP.NET Core hub tests will say why:\n${(r.stdout + r.stderr).trim().slice(-2000)}`);
}

let result;
if (namespaceWorks()) {
  restoreAspNetHub();
  console.log('tests run in a network namespace with only the loopback interface');
  result = spawnSync('unshare', ['-n', 'sh', '-c', `ip link set lo up && exec ${vitest.map(quote).join(' ')}`], { stdio: 'inherit' });
} else {
  console.log('tests run on the host network (no network namespace: needs root and unshare); agents still bind ICE to 127.0.0.1');
  result = spawnSync(vitest[0], vitest.slice(1), { stdio: 'inherit' });
}
process.exitCode = result.status ?? 1;
