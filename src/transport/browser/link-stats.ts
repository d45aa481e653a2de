/**
 * A browser link's figures from RTCPeerConnection.getStats() (W3C webrtc-stats): the selected
 * candidate pair's round-trip time and byte counts, and the types of its two candidates.
 */
import type { PeerLinkStats } from '../../engine/peer-link.js';

interface PairReport {
  type: 'candidate-pair';
  id: string;
  state?: string;
  nominated?: boolean;
  selected?: boolean;
  currentRoundTripTime?: number;
  bytesSent?: number;
  bytesReceived?: number;
  localCandidateId?: string;
  remoteCandidateId?: string;
}

/** Reads the selected pair: the transport's `selectedCandidatePairId`, else the nominated succeeded pair. */
export async function readLinkStats(pc: RTCPeerConnection): Promise<PeerLinkStats> {
  const report = await pc.getStats();
  const byId = new Map<string, Record<string, unknown>>();
  let selectedId: string | undefined;
  report.forEach((entry: Record<string, unknown>) => {
    byId.set(entry.id as string, entry);
    if (entry.type === 'transport' && typeof entry.selectedCandidatePairId === 'string') selectedId = entry.selectedCandidatePairId;
  });
  let pair = selectedId === undefined ? undefined : (byId.get(selectedId) as PairReport | undefined);
  if (!pair) {
    for (const entry of byId.values()) {
      const candidate = entry as unknown as PairReport;
      if (candidate.type === 'candidate-pair' && candidate.state === 'succeeded' && (candidate.selected === true || candidate.nominated === true)) pair = candidate;
    }
  }
  const stats: PeerLinkStats = { bytesSent: pair?.bytesSent ?? 0, bytesReceived: pair?.bytesReceived ?? 0 };
  if (!pair) return stats;
  if (typeof pair.currentRoundTripTime === 'number') stats.rttMs = Math.round(pair.currentRoundTripTime * 1000);
  const local = pair.localCandidateId === undefined ? undefined : byId.get(pair.localCandidateId);
  const remote = pair.remoteCandidateId === undefined ? undefined : byId.get(pair.remoteCandidateId);
  if (typeof local?.candidateType === 'string') stats.localCandidateType = local.candidateType;
  if (typeof remote?.candidateType === 'string') stats.remoteCandidateType = remote.candidateType;
  return stats;
}
