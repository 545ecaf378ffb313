#!/usr/bin/env bash
# `cmake --install`: tlstap beside tlstap-keyprobe, the man page with every
# option --help names, and the bash completion answering from --help.
# Usage: install_test.sh BUILD_DIR
set -euo pipefail
build=$1
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
DESTDIR=$dest cmake --install "$build" --prefix /usr >/dev/null
fail() { echo "install_test: $*" >&2; exit 1; }

sbin=$dest/usr/sbin
[[ -x $sbin/tlstap && -x $sbin/tlstap-keyprobe ]] || fail "tlstap and tlstap-keyprobe not in $sbin"
man=$dest/usr/share/man/man8/tlstap.8
[[ -s $man ]] || fail "no man page at $man"
options=$("$sbin/tlstap" --help | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)
[[ $(wc -l <<<"$options") -gt 20 ]] || fail "--help names too few options: $options"
for o in $options; do
  grep -qF -- "${o//-/\\-}" "$man" || fail "the man page lacks $o"
done

completion=$dest/usr/share/bash-completion/completions/tlstap
[[ -s $completion ]] || fail "no bash completion at $completion"
complete_line() {  # the words tlstap's completion offers for the line "$1"
  PATH=$sbin:$PATH bash -c '
    source /usr/share/bash-completion/bash_completion
    source "$1"
    read -ra COMP_WORDS <<<"$2"
    [[ $2 == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) COMP_LINE=$2 COMP_POINT=${#2}
    _tlstap
    printf "%s\n" "${COMPREPLY[@]}"' _ "$completion" "$1"
}
[[ $(complete_line "tlstap --ot") == "--otlp" ]] || fail "--ot does not complete to --otlp"
[[ $(complete_line "tlstap --hold") == "--hold-new" ]] || fail "--hold does not complete"
[[ $(complete_line "tlstap k") == "keys" ]] || fail "k does not complete to keys"
[[ $(complete_line "tlstap --lib g" | tr '\n' ' ') == "gnutls go " ]] || fail "--lib g: not gnutls go"
echo "install_test: installed files, man page and completion as expected"
