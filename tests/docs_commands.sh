#!/usr/bin/env bash
# docs_commands.sh — every command the documentation shows is run, so the
# docs cannot drift from the tools.  Reads the Markdown files of the source
# tree (README.md, docs/*.md, the READMEs of the folders) and, file by file,
# in a scratch folder of its own that looks like the repository root
# (build/compiler/netc, build/runtime/netrun, build/examples/gen_data are the
# tools under test; models/ is a copy; examples/, tests/, bench/ are links):
#
#   ```sh           each command runs, in order, in one shell per file (cd
#                   and variables carry over); it must exit 0, or N when its
#                   last line ends with the comment `# exit N`; one that
#                   says `(needs TOOL)` is skipped when TOOL is not on PATH
#   ```sh-notest    shown, not run (a build, a long study, mpirun, a test
#                   suite): checked for shell syntax, and every repository
#                   script it names (examples/..., tests/..., bench/...,
#                   .ci/...) must exist
#   ```output       what the command before it printed: each of its lines must
#                   be a line of that command's output (stdout and stderr)
#   ```LANG PATH    (e.g. ```net models/lib/unet.net) a file: when PATH is a
#                   file of the source tree, the block must be an exact
#                   excerpt of it; otherwise the block is written to PATH in
#                   the scratch folder, for the commands after it
#
# Also every relative link [text](path#anchor) must name a file that exists
# and, with an anchor into a Markdown file, one of its headings.  A failure
# names the doc file and line.  Under valgrind (E2E_VALGRIND) it skips, and
# with E2E_QUICK (the sanitizer build of tests/run.sh) it checks the links,
# excerpts and syntax but runs no command: the commands are the release
# build's, and memory checks of these paths are the other e2e scripts' work.
# Needs NETC, NETRUN, GEN_DATA, SOURCE_ROOT (meson); DOCS="README.md
# docs/tutorial.md" checks only those files.
if [ -n "${E2E_VALGRIND:-}" ]; then
    echo "# skip: the docs' commands are not run under valgrind"
    exit 77
fi
. "$(dirname "$0")/e2e_lib.sh"

cd "$SOURCE_ROOT" || exit 1
if [ -n "${DOCS:-}" ]; then
    read -r -a doc_files <<<"$DOCS"
else
    doc_files=(README.md docs/*.md */README.md */*/README.md)
fi

# The scratch folder of one doc file: the repository root as its commands see it.
make_scratch() {
    local dir=$1
    mkdir -p "$dir/build/compiler" "$dir/build/runtime" "$dir/build/examples" "$dir/docs"
    ln -s "$NETC" "$dir/build/compiler/netc"
    ln -s "$NETRUN" "$dir/build/runtime/netrun"
    ln -s "$GEN_DATA" "$dir/build/examples/gen_data"
    cp -r "$SOURCE_ROOT/models" "$dir/models"
    local d
    for d in examples tests bench; do ln -s "$SOURCE_ROOT/$d" "$dir/$d"; done
}

# A Markdown heading as GitHub's anchor: lower case, punctuation dropped,
# spaces to hyphens.
slug() {
    local s=${1,,}
    s=$(printf '%s' "$s" | sed -E 's/[^a-z0-9 _-]//g; s/ /-/g')
    printf '%s' "$s"
}

# check_links FILE: every relative link names an existing file (and heading)
check_links() {
    local file=$1 dir n=0 line target path anchor heads bad=0
    dir=$(dirname "$file")
    while IFS= read -r line; do
        n=$((n + 1))
        while [[ $line =~ \]\(([^\)\ ]+)\) ]]; do
            target=${BASH_REMATCH[1]}
            line=${line#*"${BASH_REMATCH[0]}"}
            case $target in http://* | https://* | mailto:*) continue ;; esac
            path=${target%%#*}
            anchor=""
            [[ $target == *#* ]] && anchor=${target#*#}
            [ -z "$path" ] && path=$(basename "$file")
            if [ ! -e "$dir/$path" ]; then
                fail "$file:$n: link to $target: no such file"
                bad=1
                continue
            fi
            if [ -n "$anchor" ] && [[ $path == *.md ]]; then
                heads=$(grep -E '^#+ ' "$dir/$path" | sed -E 's/^#+ +//' | while IFS= read -r h; do slug "$h"; echo; done)
                if ! grep -qxF -- "$anchor" <<<"$heads"; then
                    fail "$file:$n: link to $target: $path has no heading '#$anchor'"
                    bad=1
                fi
            fi
        done
    done <"$file"
    [ "$bad" = 0 ] && ok "$file: links"
}

# parse FILE: fills the arrays of its items, in order.  kinds: run or notest
# (texts: the command, wants: its exit status), file (texts: PATH, bodies:
# the block), output (bodies: the lines), bad (texts: why); lines: where
# each starts in FILE.
parse() {
    local file=$1 n=0 line fence="" indent=0 info tag acc="" start=0 want
    kinds=() lines=() texts=() wants=() bodies=()
    local body="" body_start=0 body_path=""
    while IFS= read -r line || [ -n "$line" ]; do
        n=$((n + 1))
        if [ -z "$fence" ]; then
            if [[ $line =~ ^(\ *)\`\`\`(.*)$ ]]; then
                indent=${#BASH_REMATCH[1]}
                info=${BASH_REMATCH[2]}
                read -r tag body_path _ <<<"$info"
                case $tag in
                    sh) fence=run ;;
                    sh-notest) fence=notest ;;
                    output) fence=output body="" body_start=$((n + 1)) ;;
                    *) fence=other
                       [ -n "${body_path:-}" ] && fence=file && body="" && body_start=$((n + 1)) ;;
                esac
                acc=""
            fi
            continue
        fi
        local stripped=$line
        local lead=${line%%[! ]*}
        if [ ${#lead} -ge "$indent" ]; then stripped=${line:$indent}; else stripped=${line#"$lead"}; fi
        if [[ $stripped =~ ^\ *\`\`\`\ *$ ]]; then
            if [ "$fence" = file ] || [ "$fence" = output ]; then
                kinds+=("$fence") lines+=("$body_start") texts+=("${body_path:-}") wants+=(0) bodies+=("$body")
            elif [ -n "$acc" ]; then
                kinds+=(bad) lines+=("$start") texts+=("not a complete shell command: $acc") wants+=(0) bodies+=("")
            fi
            fence=""
            continue
        fi
        case $fence in
            other) continue ;;
            file | output) body+="$stripped"$'\n'; continue ;;
        esac
        if [ -z "$acc" ]; then
            [[ $stripped =~ ^\ *(#.*)?$ ]] && continue
            start=$n
            acc=$stripped
        else
            acc+=$'\n'"$stripped"
        fi
        [[ $stripped == *\\ ]] && continue
        bash -n <<<"$acc" 2>/dev/null || continue
        want=0
        [[ $stripped =~ \#\ exit\ ([0-9]+)\ *$ ]] && want=${BASH_REMATCH[1]}
        kinds+=("$fence") lines+=("$start") texts+=("$acc") wants+=("$want") bodies+=("")
        acc=""
    done <"$file"
    if [ -n "$fence" ]; then
        kinds+=(bad) lines+=("$n") texts+=("a code block is not closed") wants+=(0) bodies+=("")
    fi
}

# run_doc FILE: its items in its scratch folder; stops at the first failure
run_doc() {
    local file=$1 scratch
    scratch=$WORK/$(echo "$file" | tr '/.' '__')
    make_scratch "$scratch"
    parse "$file"
    rm -f "$WORK/counts" "$WORK/last_out"
    (
        cd "$scratch" || exit 1
        set -o pipefail # `netc ... | head` ends netc by SIGPIPE (141): counted as 0 below
        for ((__i = 0; __i < ${#kinds[@]}; __i++)); do
            __at="$file:${lines[$__i]}"
            __text=${texts[$__i]}
            __first=${__text%%$'\n'*}
            case ${kinds[$__i]} in
                bad)
                    fail "$__at: $__text"
                    break
                    ;;
                file)
                    if [ -f "$SOURCE_ROOT/$__text" ]; then
                        if [[ $(cat "$SOURCE_ROOT/$__text"; echo x) == *"${bodies[$__i]}"* ]]; then
                            ok "$__at: the block is an excerpt of $__text"
                        else
                            fail "$__at: the block is not an exact excerpt of $__text"
                        fi
                    else
                        mkdir -p "$(dirname "$__text")"
                        printf '%s' "${bodies[$__i]}" >"$__text"
                    fi
                    ;;
                output)
                    [ -f "$WORK/last_out" ] || continue # its command was skipped
                    __miss=""
                    while IFS= read -r __l; do
                        __l=${__l%"${__l##*[! ]}"}
                        [ -z "$__l" ] && continue
                        sed 's/ *$//' "$WORK/last_out" | grep -qxF -- "$__l" || { __miss=$__l; break; }
                    done <<<"${bodies[$__i]}"
                    if [ -n "$__miss" ]; then
                        fail "$__at: the command before did not print: $__miss"
                    else
                        ok "$__at: the output shown"
                    fi
                    ;;
                notest)
                    __bad=""
                    set -f
                    for __w in $__text; do
                        __w=${__w//[\"\']/}
                        __w=${__w%%[;|&)]*}
                        case $__w in
                            examples/* | tests/* | bench/* | .ci/*)
                                [ -e "$SOURCE_ROOT/$__w" ] || __bad="$__bad $__w" ;;
                        esac
                    done
                    set +f
                    if [ -n "$__bad" ]; then
                        fail "$__at: names what the repository lacks:$__bad"
                    fi
                    ;;
                run)
                    if [ "$QUICK" = 1 ]; then # the sanitizer build: links, excerpts, syntax only
                        [ -n "${__said:-}" ] || echo "# skip: $file: commands not run (E2E_QUICK)"
                        __said=1
                        continue
                    fi
                    if [[ $__text =~ \(needs\ ([A-Za-z0-9_.+-]+)\) ]] && ! command -v "${BASH_REMATCH[1]}" >/dev/null; then
                        echo "# skip: $__at: no ${BASH_REMATCH[1]} on PATH"
                        rm -f "$WORK/last_out"
                        continue
                    fi
                    __t0=$(date +%s.%N)
                    eval "$__text" </dev/null >"$WORK/out" 2>&1
                    __st=$?
                    [ "$__st" = 141 ] && __st=0
                    __t1=$(date +%s.%N)
                    if [ "$__st" != "${wants[$__i]}" ]; then
                        fail "$__at: exit $__st, expected ${wants[$__i]}: $__first"
                        tail -15 "$WORK/out" | sed 's/^/#   /'
                        break
                    fi
                    mv "$WORK/out" "$WORK/last_out"
                    ok "$__at ($(awk -v a="$__t0" -v b="$__t1" 'BEGIN { printf "%.1f s", b - a }')): $__first"
                    ;;
            esac
        done
        echo "$checks $fails" >"$WORK/counts"
    )
    if [ -f "$WORK/counts" ]; then
        read -r checks fails <"$WORK/counts"
    else
        fail "$file: its commands ended the shell (exit?)"
    fi
    rm -rf "$scratch"
}

for f in "${doc_files[@]}"; do
    [ -f "$f" ] || continue
    case $f in build*/* | subprojects/*) continue ;; esac
    check_links "$f"
    run_doc "$f"
done
finish
