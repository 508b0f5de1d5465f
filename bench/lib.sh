# bench/lib.sh - helpers shared by the benchmark scripts (run.sh, probes.sh,
# http.sh), sourced by each.  They read the caller's globals:
#   RAW   the samples file: tab-separated ROUND KEY ID VALUE [VALUE...],
#         a VALUE being a number, NA (program not built) or FAIL:<why>
#   ONLY  BENCH_ONLY (row ids to run; empty: all)
#   DIV   BENCH_DIV (iteration divisor of a smoke run)

# selected ID: whether row ID is to run.
selected() {
	[ -z "$ONLY" ] && return 0
	case " $ONLY " in *" $1 "*) return 0 ;; esac
	return 1
}

# scaled N: N / DIV, at least 1.
scaled() {
	local n=$((${1} / ${DIV:-1}))
	echo $((n > 0 ? n : 1))
}

# stats KEY ID [COLUMN]: "median min max ok total na lastfail" over the
# samples of KEY and ID, taking the value from COLUMN (default 4; column 4
# also says NA or FAIL:<why> for the whole sample); lastfail: the why of the
# last failed sample, or -.
stats() {
	awk -F'\t' -v key="$1" -v id="$2" -v col="${3:-4}" '
		$2 == key && $3 == id {
			total++
			if ($4 == "NA") na++
			else if ($4 ~ /^FAIL:/) fail = substr($4, 6)
			else if ($col ~ /^[0-9.eE+-]+$/) v[ok++] = $col + 0
		}
		END {
			if (fail == "") fail = "-"
			if (ok == 0) { printf "- - - 0 %d %d %s\n", total, na, fail; exit }
			for (i = 1; i < ok; i++)        # insertion sort: a handful of samples
				for (j = i; j > 0 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
			med = ok % 2 ? v[(ok - 1) / 2] : (v[ok / 2 - 1] + v[ok / 2]) / 2
			printf "%.6g %.6g %.6g %d %d %d %s\n", med, v[0], v[ok - 1], ok, total, na, fail
		}' "$RAW"
}

# median_of KEY ID [COLUMN]: the median of stats, or -.
median_of() {
	local med rest
	read -r med rest <<<"$(stats "$@")"
	echo "$med"
}

# human N: 5000000 -> 5M, 20000 -> 20k.
human() {
	awk -v n="$1" 'BEGIN {
		if (n >= 1e6 && n % 1e6 == 0) printf "%dM", n / 1e6
		else if (n >= 1e3 && n % 1e3 == 0) printf "%dk", n / 1e3
		else printf "%d", n
	}'
}
