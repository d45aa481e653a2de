/** Browser P2P transport: links over the page's RTCPeerConnection. */
export { BrowserLink, LINK_LABELS, DEFAULT_BROWSER_BUFFERED_LOW_BYTES, type BrowserLinkOptions } from './browser-link.js';
export { BrowserLinkFactory, type BrowserLinkFactoryOptions } from './browser-link-factory.js';
export { readLinkStats } from './link-stats.js';
