# bash completion for licvault.  Every word list comes from the program
# itself (`licvault __complete ...`, generated from its command table), so a
# new command or option completes without a change here.

# _licvault_ask WHAT [ARGS...]: one word a line, with the line's --config/--store
_licvault_ask()
{
    "$_lv_prog" "${_lv_global[@]}" __complete "$@" 2>/dev/null
}

_licvault()
{
    local cur prev words cword
    _init_completion -n : || return

    _lv_prog=${words[0]}
    _lv_global=()
    local with_arg=" $(_lv_prog=$_lv_prog _licvault_ask options-with-arg | tr '\n' ' ') "
    local cmd=() nargs=0 i w after_dashes=
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        if [[ -z $after_dashes && $w == -- ]]; then
            after_dashes=1
        elif [[ -z $after_dashes && $w == -* ]]; then
            if [[ $with_arg == *" $w "* ]]; then
                [[ $w == --config || $w == --store ]] && _lv_global+=("$w" "${words[i + 1]}")
                ((i++))
            fi
        elif ((${#cmd[@]} == 0)) || { ((${#cmd[@]} == 1)) && [[ -n $(_licvault_ask subcommands "${cmd[0]}") ]]; }; then
            cmd+=("$w")
        else
            ((nargs++))
        fi
    done

    # an option's argument: file names only for a file (--keep N, --generation G: nothing)
    if [[ $with_arg == *" $prev "* ]]; then
        [[ $(_licvault_ask arg-kind -- "$prev") == file ]] && _filedir
        return
    fi
    if [[ -z $after_dashes && $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_licvault_ask options "${cmd[@]}")" -- "$cur"))
        return
    fi
    if ((${#cmd[@]} == 0)); then
        COMPREPLY=($(compgen -W "$(_licvault_ask commands)" -- "$cur"))
        return
    fi
    local sub
    sub=$(_licvault_ask subcommands "${cmd[0]}")
    if [[ -n $sub ]] && ((${#cmd[@]} == 1)); then
        COMPREPLY=($(compgen -W "$sub" -- "$cur"))
        return
    fi
    # what this argument is: the kinds are per position, the last one repeats
    local kinds=($(_licvault_ask arg-kind "${cmd[@]}"))
    ((${#kinds[@]})) || return
    local kind=${kinds[nargs < ${#kinds[@]} ? nargs : ${#kinds[@]} - 1]}
    case $kind in
    uri)
        # after stacking prefixes (crypt+, bundle+crypt+: core/uri.c's rule), what follows
        # completes as a URI (sed, not BASH_REMATCH: zsh runs this through bashcompinit)
        local stack rest
        stack=$(printf '%s' "$cur" | sed -E 's/^(([A-Za-z][A-Za-z0-9.-]*[+])*).*/\1/')
        rest=${cur#"$stack"}
        COMPREPLY=($(compgen -P "$stack" -W "$(_licvault_ask locations) $(_licvault_ask schemes)" -- "$rest"))
        if [[ -n $stack ]]; then
            COMPREPLY+=($(compgen -P "$stack" -S / -d -- "$rest"))
        else
            _filedir -d
        fi
        __ltrim_colon_completions "$cur"
        compopt -o nospace 2>/dev/null
        ;;
    file) _filedir ;;
    dir) _filedir -d ;;
    kid) COMPREPLY=($(compgen -W "$(_licvault_ask kids)" -- "$cur")) ;;
    command) COMPREPLY=($(compgen -W "$(_licvault_ask commands) exit-codes" -- "$cur")) ;;
    esac
}
complete -F _licvault licvault
