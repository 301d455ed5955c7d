#!/bin/sh
# Loads /directory/data.ldif into a fresh database (the tmpfs), then runs slapd in the foreground.
set -eu
slapadd -f /directory/slapd.conf -l /directory/data.ldif
exec slapd -f /directory/slapd.conf -h "ldap://0.0.0.0:${PORT:-3389}/" -d 0
