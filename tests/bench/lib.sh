# Shared by the benchmark scripts: source it.

# median_ms CMD...: runs CMD $RUNS times (output discarded), prints the
# median wall time in milliseconds.
median_ms() {
  local times=() start end
  for ((i = 0; i < RUNS; i++)); do
    start=$EPOCHREALTIME
    "$@" >/dev/null 2>&1
    end=$EPOCHREALTIME
    times+=("$(awk -v a="${start/,/.}" -v b="${end/,/.}" 'BEGIN { printf "%.3f", (b - a) * 1000 }')")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
