#!/bin/sh
# Entrypoint of the IDE image (the estate's contract with it, constructs/workspace.ts):
#  * VS Code's user-data dir is a tmpfs at /var/lib/code-server, outside the home; its Machine
#    dir is the estate's managed dir (root-owned, mounted: the user can neither change nor move
#    it). Its User dir (the user's own settings and extension state) is linked to the home
#    volume, so that persists.
#  * The AI clients read their configs from the home: the managed copies are installed there at
#    every start (the home volume is mounted only at start).
#  * The bank's CAs (egress proxy, issue 18): webide-egress-trust writes the CA bundle and the
#    Java trust store under /tmp (render/ide-egress.ts IDE_EGRESS_PATHS) that the tools' configs
#    and the JRE's default trust store point at. Also without egress or CAs (then the system CAs
#    only: the JRE's link must find a store); a failure there never stops the IDE from starting.
# Then it runs code-server with the container's arguments.
set -eu
user_data=/var/lib/code-server
managed="$user_data/Machine"
install_managed() { # <file in $managed> <target under $HOME>
  if [ -f "$managed/$1" ]; then
    mkdir -p "$(dirname "$HOME/$2")"
    cp "$managed/$1" "$HOME/$2"
  fi
}
install_managed continue-config.yaml .continue/config.yaml
install_managed tabby-agent-config.toml .tabby-client/agent/config.toml
if [ -d "$user_data" ] && [ -w "$user_data" ]; then
  mkdir -p "$HOME/.local/share/code-server/User"
  ln -sfn "$HOME/.local/share/code-server/User" "$user_data/User"
fi
mkdir -p "$HOME/project"
/usr/local/bin/webide-egress-trust /etc/webide/egress-ca /tmp/webide-egress \
    /etc/ssl/certs/ca-certificates.crt /usr/share/webide/java-cacerts \
  || echo "webide-ide-entrypoint: the egress trust step failed; TLS to the bank's services may fail" >&2
exec /usr/bin/code-server "$@"
