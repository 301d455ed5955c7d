# Sourced by .ci/run and the test-tier scripts: `phase NAME CMD…` runs CMD under a "=== NAME"
# heading and records how long it took; `report` prints every phase's time (and exit status when
# not 0). PHASE_LABEL, when set, prefixes both ("e2e", "swarm"), so nested tiers read apart.
declare -a timings=()
phase() {
  local name=$1 started=$SECONDS status=0
  shift
  echo "=== ${PHASE_LABEL:+${PHASE_LABEL}: }${name}"
  "$@" || status=$?
  timings+=("$(printf '%s%-34s %5ds%s' "${PHASE_LABEL:+  }" "$name" $((SECONDS - started)) "$([ $status -eq 0 ] || echo "  (exit $status)")")")
  return $status
}
report() {
  echo "=== ${PHASE_LABEL:+${PHASE_LABEL} }phase timings"
  printf '%s\n' "${timings[@]}"
}
