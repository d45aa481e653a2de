/** Every bench run.ts knows, in the order a full run goes through them. Add new ones here. */
import type { BenchModule } from '../lib/types.js';
import { agentPathsBench } from './agent-paths.js';
import { agentVsRawBench } from './agent-vs-raw.js';
import { aspnetRelayBench } from './aspnet-relay.js';
import { clusterBench } from './cluster.js';
import { dtlsRoleBench } from './dtls-role.js';
import { e2eeCryptoBench } from './e2ee-crypto.js';
import { hubRelayBench } from './hub-relay.js';
import { joinLatencyBench } from './join-latency.js';
import { setupSuccessBench } from './setup-success.js';
import { turnBench } from './turn.js';

export const BENCHES: readonly BenchModule[] = [hubRelayBench, agentPathsBench, aspnetRelayBench, turnBench, dtlsRoleBench, e2eeCryptoBench, clusterBench, agentVsRawBench, joinLatencyBench, setupSuccessBench];
