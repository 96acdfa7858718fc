#!/bin/sh
# snoop.sh is what a hostile tenant does to break out of its sandbox (issue
# 17): it looks for secrets (the needles) in every file and process it can
# reach, writes where it should not, and signals processes that are not its
# own. It reports in lines starting with "SNOOP " and never fails itself.
#
#   SNOOP found PATH      a needle is in PATH (a file, /proc/N/environ, ...)
#   SNOOP write-ok DIR    it could create a file in DIR
#   SNOOP kill-ok PID     kill -9 PID succeeded
#   SNOOP search-timeout DIR   the search of DIR was cut short
#   SNOOP done            the end (nothing after it)
#
# Environment:
#   NEEDLES       the secrets to look for, |-separated; unset at once, so that
#                 no process or file it makes carries them
#   KILL_PIDS     pids to kill -9 besides every visible one not of its own tree
#   SNOOP_DIRS    more directories to search and write to (space-separated)
#   SNOOP_VICTIM_DIR  another app's droplet: writing there must fail
#   SNOOP_SKIP    directories never to read (space-separated)
#   SNOOP_MARK    when a write to /tmp, /var/tmp or /dev/shm works, a file
#                 paved-snoop-$SNOOP_MARK is left there, so the test can tell
#                 whether those are the sandbox's own or the host's
#   SNOOP_SCAN    "all" (default), or "dirs": search only SNOOP_DIRS
#   SNOOP_PIDS    when set, read only these processes in /proc
#   SNOOP_TIMEOUT seconds each search may take (default 60)
#   SNOOP_DECOY   one more needle, unset at once too: the test leaves it in a
#                 file the tenant may read, and the snoop starts a process
#                 outside its own tree with it in its environment; finding
#                 both shows the searches work where it runs
#
# As root (no sandbox) it neither writes nor kills: it would hit the host.

needles=${NEEDLES-}
decoy=${SNOOP_DECOY-}
unset NEEDLES SNOOP_DECOY
self=$$
nl='
'
limit=${SNOOP_TIMEOUT:-60}

# Where the patterns go: a fresh directory of its own, skipped by searches.
work=
for base in "${TMPDIR-}" "${HOME-}" /tmp; do
	[ -n "$base" ] || continue
	work=$(mktemp -d "$base/.snoop.XXXXXX" 2>/dev/null) && break
	work=
done
if [ -z "$work" ]; then
	echo "SNOOP error: no directory to work in"
	echo "SNOOP done"
	exit 0
fi
pat=$work/patterns
: >"$pat"
count=0
set -f
oldifs=$IFS
IFS='|'
for x in $needles; do
	[ -n "$x" ] || continue # an empty pattern would match everything
	printf '%s\n' "$x" >>"$pat"
	count=$((count + 1))
done
IFS=$oldifs
set +f
needles=
[ -n "$decoy" ] && printf '%s\n' "$decoy" >>"$pat"

uid=$(id -u)
cwd=$(pwd -P)
echo "SNOOP needles $count"
echo "SNOOP uid $uid gid $(id -g) groups $(id -G)"
echo "SNOOP pid $self"
echo "SNOOP cwd $cwd"
echo "SNOOP home ${HOME-}"
echo "SNOOP tmpdir ${TMPDIR-}"

# getppid N sets PP to the parent of process N (fails if N is gone).
getppid() {
	PP=
	line=
	{ read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
	line=${line##*) }
	set -- $line
	PP=$2
	[ -n "$PP" ]
}

# Its own ancestors that were handed NEEDLES (the shells that started it):
# reading their environment is reading what it was given.
given=
q=$self
while getppid "$q" && [ "$PP" -gt 0 ]; do
	q=$PP
	if { tr '\0' '\n' <"/proc/$q/environ" | grep -q '^NEEDLES='; } 2>/dev/null; then
		given="$given $q"
	fi
done
echo "SNOOP given-ancestors${given:- none}"

# The decoy process: started by a subshell that exits at once, so that it
# is no descendant of this script (the sandbox's init, or the host's,
# adopts it).
dpid=
if [ -n "$decoy" ]; then
	(SNOOP_DECOY_ENV=$decoy sh -c 'echo $$ >"$1"; exec sleep 300' sh "$work/decoy.pid" &)
	for i in 1 2 3 4 5 6 7 8 9 10; do
		[ -s "$work/decoy.pid" ] && break
		sleep 0.2
	done
	{ read -r dpid <"$work/decoy.pid"; } 2>/dev/null
	echo "SNOOP decoy-pid ${dpid:-none}"
fi

# own N: N is this script, one of its descendants (subshells copy its
# memory, environment included) or an ancestor that was given NEEDLES.
own() {
	case " $given $dpid " in *" $1 "*) return 0 ;; esac
	o=$1
	hops=0
	while [ "$hops" -lt 100 ]; do
		[ "$o" = "$self" ] && return 0
		getppid "$o" || return 1
		[ "$PP" -gt 0 ] || return 1
		o=$PP
		hops=$((hops + 1))
	done
	return 1
}

# The ancestors of the working directory, "/" left out.
ancestors=
p=$cwd
while :; do
	p=${p%/*}
	[ -n "$p" ] || break
	ancestors="$ancestors$nl$p"
done

excl="/proc$nl/sys$nl/dev$nl$work"
for x in "${HOME-}" "${TMPDIR-}"; do
	[ -n "$x" ] && excl="$excl$nl$x"
done
for x in ${SNOOP_SKIP-}; do
	excl="$excl$nl$x"
done

# search DIR: every regular file under DIR it can read, needles grepped.
search() {
	d=$1
	[ -d "$d" ] || return 0
	set -f
	oldifs=$IFS
	IFS=$nl
	set --
	for x in $excl; do
		set -- "$@" -o -path "$x"
	done
	IFS=$oldifs
	set +f
	timeout "$limit" find "$d" \( -path /proc "$@" \) -prune -o -type f -print0 >"$work/files" 2>/dev/null
	rc=$?
	timeout "$limit" xargs -0 -r grep -s -a -F -l -f "$pat" -- <"$work/files" >"$work/hits" 2>/dev/null
	rc2=$?
	if [ "$rc" = 124 ] || [ "$rc2" = 124 ]; then
		echo "SNOOP search-timeout $d"
	fi
	while IFS= read -r f; do
		echo "SNOOP found $f"
	done <"$work/hits"
	echo "SNOOP searched $d"
}

# (b) files.
if [ "${SNOOP_SCAN:-all}" = dirs ]; then
	targets=${SNOOP_DIRS-}
else
	targets="$ancestors$nl/tmp$nl/var/tmp$nl/dev/shm$nl/etc$nl/run$nl/var/lib$nl/home$nl/root$nl/srv$nl/opt$nl/mnt$nl${SNOOP_DIRS-}"
fi
seen=
set -f
for d in $targets; do
	case "$nl$seen$nl" in *"$nl$d$nl"*) continue ;; esac
	seen="$seen$nl$d"
	search "$d"
done
set +f

# (c) other processes' environments and command lines (the decoy's too).
checked=0
for pd in /proc/[0-9]*; do
	q=${pd#/proc/}
	if [ -n "${SNOOP_PIDS-}" ]; then
		case " $SNOOP_PIDS " in *" $q "*) ;; *) continue ;; esac
	fi
	[ "$q" = "$dpid" ] || ! own "$q" || continue
	checked=$((checked + 1))
	grep -s -a -F -l -f "$pat" "$pd/environ" "$pd/cmdline" >"$work/hits" 2>/dev/null
	while IFS= read -r f; do
		echo "SNOOP found $f"
	done <"$work/hits"
done
echo "SNOOP procs-checked $checked"

[ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null

if [ "$uid" = 0 ]; then
	echo "SNOOP as-root: no writes, no kills"
else
	# (d) writes.
	probe=.paved-snoop-probe-$self
	set -f
	for d in "$cwd" $ancestors / /etc /var/lib ${SNOOP_DIRS-} ${SNOOP_VICTIM_DIR-}; do
		if (: >"$d/$probe") 2>/dev/null; then
			echo "SNOOP write-ok $d"
			rm -f "$d/$probe"
		fi
	done
	set +f
	for d in /tmp /var/tmp /dev/shm; do
		if (: >"$d/$probe") 2>/dev/null; then
			echo "SNOOP write-ok $d"
			rm -f "$d/$probe"
			if [ -n "${SNOOP_MARK-}" ]; then
				(: >"$d/paved-snoop-$SNOOP_MARK") 2>/dev/null
			fi
		fi
	done

	# (e) kills: the pids it was given, then every one it can see.
	visible=
	for pd in /proc/[0-9]*; do
		visible="$visible ${pd#/proc/}"
	done
	echo "SNOOP visible-pids$visible"
	for q in ${KILL_PIDS-} $visible; do
		own "$q" && continue
		if kill -9 "$q" 2>/dev/null; then
			echo "SNOOP kill-ok $q"
		fi
	done
fi

rm -rf "$work"
echo "SNOOP done"
exit 0
