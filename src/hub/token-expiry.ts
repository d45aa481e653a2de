/**
 * Tokens that expire on live connections, as ASP.NET Core's CloseOnAuthenticationExpiration does:
 * a connection whose token passed its `exp` (or `iat` plus the hub's maximum age) is closed with
 * `RTC_ERR_UNAUTHORIZED: token expired` and allowReconnect, so the client reconnects and
 * authenticates again; without a fresh token that reconnect gets 401.
 */
import { tokenExpiredError } from './auth.js';
import type { HubClientConnection } from './connection.js';

export class TokenExpiry {
  /** Connections closed because their token expired: their members wait for a rejoin. */
  private readonly expired = new WeakSet<HubClientConnection>();
  /** Deferred member removals, cancelled at shutdown. */
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly graceMs: number) {}

  /** Closes `conn` if its token has expired by `now`; true if it did (or it is closed already). */
  closeIfExpired(conn: HubClientConnection, now: number): boolean {
    const expiresAt = conn.user?.expiresAt;
    if (expiresAt === undefined || now < expiresAt) return false;
    this.expire(conn);
    return true;
  }

  /** Closes `conn` for its expired token. Idempotent. */
  expire(conn: HubClientConnection): void {
    if (conn.state === 'closed') return;
    conn.log.debug('token expired; closing the connection');
    this.expired.add(conn);
    conn.close(tokenExpiredError(), true);
  }

  /**
   * Runs `removeMembers` for a closed connection: at once, or after the grace period if the hub
   * closed it for its token. A client that rejoins with a fresh token within the grace moves each
   * membership to its new connection (Join replaces a peer's old connection), so the others see no
   * PeerLeft/PeerJoined churn; what they relayed meanwhile went to the closed connection and their
   * reliable layer sends it again. Removing then touches only the rooms it did not rejoin.
   */
  connectionClosed(conn: HubClientConnection, removeMembers: () => void): void {
    if (!this.expired.has(conn)) {
      removeMembers();
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      removeMembers();
    }, this.graceMs);
    timer.unref();
    this.timers.add(timer);
  }

  /** Drops pending removals (the hub is shutting down and tells nobody). Idempotent. */
  cancel(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
