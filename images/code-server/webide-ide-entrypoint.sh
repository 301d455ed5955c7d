#!/bin/sh
# Entrypoint of the IDE image (the estate's contract with it): installs the managed files the
# estate uploaded to /etc/webide/managed into the user's home on every start (the home volume
# is mounted only at start), then runs code-server with the container's arguments.
set -eu
managed=/etc/webide/managed
install_managed() { # <file in $managed> <target under $HOME>
  if [ -f "$managed/$1" ]; then
    mkdir -p "$(dirname "$HOME/$2")"
    cp "$managed/$1" "$HOME/$2"
  fi
}
install_managed machine-settings.json .local/share/code-server/Machine/settings.json
install_managed continue-config.yaml .continue/config.yaml
install_managed tabby-agent-config.toml .tabby-client/agent/config.toml
mkdir -p "$HOME/project"
exec /usr/bin/code-server "$@"
