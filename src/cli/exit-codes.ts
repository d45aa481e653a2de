/** Exit codes of every command; the README's "Exit codes" table mirrors this. */
export const ExitCode = {
  OK: 0,
  /** A runtime failure not covered below. */
  FAILURE: 1,
  /** Bad flags, bad config: the command did not start. */
  USAGE: 2,
} as const;
