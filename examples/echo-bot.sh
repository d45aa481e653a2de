#!/usr/bin/env bash
# Echo bot over a running `rtc-agent daemon`, in bash + curl: follows the NDJSON event stream and
# answers every text message with "echo: <text>" to the sender.
#   examples/echo-bot.sh [SOCKET]   (default: $RTC_AGENT_DAEMON_SOCKET, else the daemon's default)
#
# No jq needed: the fields are cut out with sed. That is safe here because the daemon writes
# compact JSON in a fixed field order, and in a text message "from" and "text" each occur once
# unescaped. The text is kept JSON-escaped and pasted into the reply as is, so quotes, backslashes
# and newlines in it survive. (With jq you would write: jq -r 'select(.kind=="text") | .text'.)
set -euo pipefail

if [[ -n "${XDG_RUNTIME_DIR:-}" ]]; then default="$XDG_RUNTIME_DIR/rtc-agent/daemon.sock"
else default="${TMPDIR:-/tmp}"; default="${default%/}/rtc-agent-$(id -u)/daemon.sock"; fi
SOCK="${1:-${RTC_AGENT_DAEMON_SOCKET:-$default}}"

# -N: no buffering, each event line arrives as it happens. The loop ends when the daemon stops.
curl -sSN --fail --unix-socket "$SOCK" 'http://daemon/events?type=message' |
while IFS= read -r line; do
  [[ "$line" == *'"kind":"text"'* ]] || continue
  from=$(sed -nE 's/.*"from":"([^"]*)".*/\1/p' <<<"$line")
  room=$(sed -nE 's/.*"room":"([^"]*)".*/\1/p' <<<"$line")
  text=$(sed -nE 's/.*"text":"((\\.|[^"\\])*)".*/\1/p' <<<"$line")   # still JSON-escaped
  [[ "$text" == 'echo: '* ]] && continue                               # don't echo echoes
  curl -sS --fail --unix-socket "$SOCK" -X POST http://daemon/send -H 'Content-Type: application/json' \
    -d "{\"room\":\"$room\",\"to\":\"$from\",\"text\":\"echo: $text\"}" >/dev/null
done
