#!/bin/sh
# make run: start slserve in the foreground with the sample configuration.
set -eu
cd "$(dirname "$0")/.."
cat <<MSG
slserve is starting on http://127.0.0.1:7070 with etc/slserve.conf (state in ./state).
In another terminal, try:

  bin/slcheck -s http://127.0.0.1:7070 checkout cad      # prints a token
  bin/slctl -s http://127.0.0.1:7070 status              # the Licenses table
  bin/slcheck checkin TOKEN                              # give the seat back

Stop the server with Ctrl-C.
MSG
# slserve refuses to run as root unless told: as root, run it as the owner
# of the checkout (who owns ./state too; root in a container, so be it).
if [ "$(id -u)" -eq 0 ]; then
	set -- -u "$(stat -c %U .)"
fi
exec bin/slserve -d -f etc/slserve.conf "$@"
