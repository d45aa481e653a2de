/** Every bench run.ts knows. Add P2P, E2EE, ASP.NET hub, TURN benches here as they are written. */
import type { BenchModule } from '../lib/types.js';
import { agentPathsBench } from './agent-paths.js';
import { hubRelayBench } from './hub-relay.js';

export const BENCHES: readonly BenchModule[] = [hubRelayBench, agentPathsBench];
