/** Every bench run.ts knows, in the order a full run goes through them. Add new ones here. */
import type { BenchModule } from '../lib/types.js';
import { agentPathsBench } from './agent-paths.js';
import { agentVsRawBench } from './agent-vs-raw.js';
import { aspnetRelayBench } from './aspnet-relay.js';
import { clusterBench } from './cluster.js';
import { dtlsRoleBench } from './dtls-role.js';
import { e2eeCryptoBench } from './e2ee-crypto.js';
import { exitAfterCloseBench } from './exit-after-close.js';
import { hubLoadBench } from './hub-load.js';
import { hubRelayBench } from './hub-relay.js';
import { joinLatencyBench } from './join-latency.js';
import { linkMemoryBench } from './link-memory.js';
import { meshBench } from './mesh.js';
import { msgpackRelayBench } from './msgpack-relay.js';
import { setupSuccessBench } from './setup-success.js';
import { turnBench } from './turn.js';

export const BENCHES: readonly BenchModule[] = [hubRelayBench, agentPathsBench, aspnetRelayBench, turnBench, dtlsRoleBench, e2eeCryptoBench, clusterBench, agentVsRawBench, joinLatencyBench, setupSuccessBench, meshBench, linkMemoryBench, exitAfterCloseBench, hubLoadBench, msgpackRelayBench];
