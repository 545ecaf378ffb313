# bash completion for tlstap. The options come from `tlstap --help` itself
# (the same text the man page is made from), so they never drift from it.
_tlstap() {
  local cur prev words cword
  _init_completion || return
  case "$prev" in
    -w | --write | --keylog)
      _filedir
      return
      ;;
    -p | --pid)
      COMPREPLY=($(compgen -W "$(ps -eo pid=)" -- "$cur"))
      return
      ;;
    -c | --comm)
      COMPREPLY=($(compgen -W "$(ps -eo comm= | sort -u)" -- "$cur"))
      return
      ;;
    -u | --uid)
      COMPREPLY=($(compgen -u -- "$cur"))
      return
      ;;
    -i | --interface)
      COMPREPLY=($(compgen -W "$(ls /sys/class/net)" -- "$cur"))
      return
      ;;
    --lib)
      COMPREPLY=($(compgen -W "openssl boringssl gnutls nss go ktls" -- "$cur"))
      return
      ;;
  esac
  if [[ $cword -eq 1 && $cur != -* ]]; then
    COMPREPLY=($(compgen -W "keys" -- "$cur"))
    return
  fi
  local opts
  opts=$("${words[0]}" --help 2>/dev/null | grep -oE -- '--[a-z][a-z0-9-]*(\[?=)?' |
    sed 's/\[=$//; s/=$//' | sort -u)
  COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}
complete -F _tlstap tlstap
