#!/bin/sh
# Entrypoint of webide-local/nginx, compatible with the official nginx image's template
# feature, which the estate uses (constructs/nginx-entry.ts): before `nginx` starts, every
#   $NGINX_ENVSUBST_TEMPLATE_DIR/<path><suffix>   (default /etc/nginx/templates, .template)
# is rendered with envsubst into
#   $NGINX_ENVSUBST_OUTPUT_DIR/<path>             (default /etc/nginx/conf.d)
# substituting only the environment variables whose names match the extended regular
# expression $NGINX_ENVSUBST_FILTER (all variables when it is empty); any other `$name`
# (nginx's own variables) is left as it is. Other commands run unchanged.
set -eu

log() { echo "webide-nginx-entrypoint: $*" >&2; }

render_templates() {
  template_dir="${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}"
  suffix="${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}"
  output_dir="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}"
  filter="${NGINX_ENVSUBST_FILTER:-}"
  [ -d "$template_dir" ] || return 0
  if [ -z "$(find "$template_dir" -follow -type f -name "*$suffix" -print -quit)" ]; then
    return 0
  fi
  if [ ! -w "$output_dir" ]; then
    log "ERROR: $template_dir has templates, but $output_dir is not writable by uid $(id -u)"
    return 0
  fi
  # The variables envsubst may replace, as `${A} ${B} …` (names only; values never printed).
  defined_envs="$(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' | awk -v f="$filter" 'f == "" || $0 ~ f { printf "${%s} ", $0 }')"
  find "$template_dir" -follow -type f -name "*$suffix" -print | while IFS= read -r template; do
    relative="${template#"$template_dir"/}"
    output="$output_dir/${relative%"$suffix"}"
    mkdir -p "$(dirname "$output")"
    envsubst "$defined_envs" <"$template" >"$output"
    log "rendered $template -> $output"
  done
}

case "${1:-}" in
  nginx | nginx-debug) render_templates ;;
esac
exec "$@"
