# Sourced by scripts/cdktf.sh and scripts/validate.sh, from the repository root: `synth_app OUTDIR`
# synthesizes the estate into OUTDIR by running cdktf.json's app the way `cdktf synth` runs it
# (CDKTF_OUTDIR set, TF_VAR_* left out of its environment so the program never sees a secret,
# 4 GiB of heap unless NODE_OPTIONS says otherwise) but without the CLI around it: the same files,
# about 5 s sooner (the CLI starts Terraform three times first; bench/results.md, section 5).
# ESTATE_FILE, ROSTER_FILE and STATE_DIR apply. On failure it prints the app's output to stderr
# and returns non-zero.
synth_app() {
  local outdir=$1 app output
  app=$(node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync("cdktf.json", "utf8")).app)')
  local -a secret_vars
  mapfile -t secret_vars < <(compgen -e | grep '^TF_VAR_' || true)
  if ! output=$(env "${secret_vars[@]/#/--unset=}" CDKTF_OUTDIR="$outdir" SYNTH_HCL_OUTPUT=false NODE_OPTIONS="${NODE_OPTIONS:---max-old-space-size=4096}" sh -c "$app" 2>&1); then
    printf '%s\n' "$output" >&2
    return 1
  fi
}
