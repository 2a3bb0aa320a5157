#!/usr/bin/env bash
# e2e_embed.sh — models out of netrun (issue 20): ensembles (`--weights
# A,B` in eval and predict), libnetrun through examples/embed.c and
# tests/test_embed.c against `netrun predict`, and `meson install`: the
# header, library and pkg-config file compile embed.c outside the build,
# and the installed netc finds the installed model library.  Needs EMBED,
# TEST_EMBED, BUILD_ROOT, CC_CMD (the build's compiler and sanitizer flags)
# and NETC_DATADIR (the configured model library folder) besides e2e_lib.sh's.
E2E_MORE_TOOLS="EMBED TEST_EMBED"
. "$(dirname "$0")/e2e_lib.sh"
M=$SOURCE_ROOT/models/unet.net
SMALL=(-D SIZE=16 -D DEPTH=2 -D BATCH=2 -D CLASSES=4 -D TAU=0 -D BASE=4)
"$NETC" "$M" "${SMALL[@]}" -o "$WORK/s.netg" || fail "netc small"
"$NETC" "$M" "${SMALL[@]:0:10}" -D BASE=2 -o "$WORK/other.netg" || fail "netc other" # another graph
D=$WORK/data BIG=40 N_BIG=2
[ "$QUICK" = 1 ] && BIG=20 N_BIG=1 # still windows (16x16 tiles), less work under valgrind
"$GEN_DATA" --out "$D" --count 4 --size 16 --classes 4 --seed 3 >/dev/null
"$GEN_DATA" --out "$WORK/big" --count $N_BIG --size $BIG --classes 4 --seed 4 >/dev/null # sliding windows
for s in 1 2; do
    "$NETRUN" train "$WORK/s.netg" --data "$D" --steps 2 --seed $s --out "$WORK/r$s" --quiet > /dev/null ||
        fail "train seed $s"
done
"$NETRUN" train "$WORK/other.netg" --data "$D" --steps 1 --out "$WORK/ro" --quiet > /dev/null || fail "train other"
A=$WORK/r1/last.safetensors B=$WORK/r2/last.safetensors O=$WORK/ro/last.safetensors
IMG=$WORK/big/images/img_000$((N_BIG - 1)).png

# --- ensembles in netrun --------------------------------------------------
IMG_PA=$WORK/pa/$(basename "$IMG") IMG_PAB=$WORK/pab/$(basename "$IMG") # the masks of IMG
pred() { "$NETRUN" predict "$WORK/s.netg" --input "$WORK/big/images" --quiet --tta "$@"; }
pred --weights "$A" --output "$WORK/pa" && pred --weights "$A,$A" --output "$WORK/paa" &&
    pred --weights "$A,$B" --output "$WORK/pab" && pred --weights "$B" --output "$WORK/pb" ||
    fail "predict with --weights lists"
cmp -s "$WORK/pa/img_0000.png" "$WORK/paa/img_0000.png" && cmp -s "$IMG_PA" "$WORK/paa/$(basename "$IMG")" &&
    ok "predict: ensemble A,A = A" || fail "predict: ensemble A,A differs from A"
cmp -s "$IMG_PA" "$IMG_PAB" || cmp -s "$WORK/pb/$(basename "$IMG")" "$IMG_PAB" &&
    fail "predict: ensemble A,B gave A's or B's mask" || ok "predict: ensemble A,B's mask is neither A's nor B's"
ev() { "$NETRUN" eval "$WORK/s.netg" --data "$WORK/big" --json "$@"; }
ev --weights "$A" > "$WORK/ea.json" && ev --weights "$A,$A" > "$WORK/eaa.json" && cmp -s "$WORK/ea.json" "$WORK/eaa.json" &&
    ok "eval: ensemble A,A = A (metrics and loss)" || fail "eval A,A: $(diff "$WORK/ea.json" "$WORK/eaa.json" | head -3)"
expect 1 "$O: tensor '" "eval: a member of another graph names its file and tensor" -- \
    "$NETRUN" eval "$WORK/s.netg" --data "$WORK/big" --weights "$A,$O"
if [ "$QUICK" = 1 ]; then
    echo "# skip: predict's errors (QUICK: eval's are the same code)"
else
    expect 1 "$O: tensor '" "predict: a member of another graph names its file and tensor" -- \
        "$NETRUN" predict "$WORK/s.netg" --input "$IMG" --output "$WORK/px" --weights "$A,$O"
    expect 1 "an empty checkpoint name" "--weights with an empty member" -- \
        "$NETRUN" predict "$WORK/s.netg" --input "$IMG" --output "$WORK/px" --weights "$A,"
fi

# --- libnetrun --------------------------------------------------------------
"$TEST_EMBED" "$WORK/s.netg" "$IMG" "$A" "$B" "$O" > "$WORK/te.out" 2>&1
grep -E "^(ok|FAIL) - " "$WORK/te.out" | while read -r line; do echo "$line"; done
grep -q "^FAIL" "$WORK/te.out" || ! grep -q " 0 failed" "$WORK/te.out" && fail "test_embed: $(tail -3 "$WORK/te.out")" ||
    ok "test_embed: $(tail -1 "$WORK/te.out")"
"$EMBED" --set tta=flips "$WORK/s.netg" "$IMG" "$WORK/e_ab.png" "$A" "$B" > /dev/null &&
    cmp -s "$WORK/e_ab.png" "$IMG_PAB" && ok "examples/embed = netrun predict (ensemble, TTA, windows)" ||
    fail "examples/embed's mask differs from netrun predict's"

# --- meson install: the library from outside the build, netc's model library ---
DEST=$WORK/dest
if ! meson install -C "$BUILD_ROOT" --destdir "$DEST" --no-rebuild --quiet > "$WORK/install.log" 2>&1; then
    fail "meson install --destdir: $(tail -3 "$WORK/install.log")"
else
    PC=$(find "$DEST" -name netrun.pc | head -1)
    H=$(find "$DEST" -name netrun.h | head -1)
    [ -n "$PC" ] && [ -n "$H" ] && [ -f "$DEST$NETC_DATADIR/lib/unet.net" ] &&
        ok "installed: netrun.h, netrun.pc, the model library in $NETC_DATADIR" || fail "installed files: pc '$PC' h '$H'"
    pc() { PKG_CONFIG_PATH=$(dirname "$PC") PKG_CONFIG_SYSROOT_DIR=$DEST pkg-config "$@" netrun; }
    LIBDIR=$(pc --variable=libdir) # in DEST: pkg-config adds the sysroot
    # shellcheck disable=SC2046,SC2086 # CC_CMD and pkg-config's flags: words
    if $CC_CMD "$SOURCE_ROOT/examples/embed.c" $(pc --cflags) $(pc --libs) -o "$WORK/embed_installed" \
            2> "$WORK/cc.log"; then
        ok "examples/embed.c compiles against the installed header and library (pkg-config)"
        EMBED=$WORK/embed_installed
        wrap_tools EMBED
        LD_LIBRARY_PATH=$LIBDIR "$EMBED" --set tta=flips "$WORK/s.netg" "$IMG" "$WORK/e2_ab.png" "$A" "$B" \
            > "$WORK/e2.log" 2>&1 && cmp -s "$WORK/e2_ab.png" "$IMG_PAB" &&
            ok "the installed library's mask = netrun predict's" || fail "installed embed: $(tail -2 "$WORK/e2.log")"
    else
        fail "compile against the installed library: $(tail -3 "$WORK/cc.log")"
    fi
    INETC=$DEST$(dirname "$NETC_DATADIR" | xargs dirname)/bin/netc # PREFIX/bin/netc
    mkdir -p "$WORK/elsewhere"
    cp "$M" "$WORK/elsewhere/model.net" # imports "lib/unet.net", which is not beside it
    NETC_PATH=$WORK/nope:$DEST$NETC_DATADIR expect 0 "" "installed netc finds the model library (NETC_PATH)" -- \
        "$INETC" "$WORK/elsewhere/model.net" "${SMALL[@]}" -o "$WORK/elsewhere/m.netg"
    expect 0 "" "installed netc finds the model library (-I)" -- \
        "$INETC" -I "$DEST$NETC_DATADIR" "$WORK/elsewhere/model.net" "${SMALL[@]}" -o "$WORK/elsewhere/m2.netg"
    cmp -s "$WORK/elsewhere/m.netg" "$WORK/elsewhere/m2.netg" && ok "the same graph both ways" || fail "graphs differ"
    mkdir -p "$WORK/broken/lib" # the order: beside the importer, -I, NETC_PATH, the installed library
    printf 'def (\n' > "$WORK/broken/lib/unet.net"
    NETC_PATH=$WORK/broken expect 0 "" "-I before NETC_PATH" -- \
        "$INETC" -I "$DEST$NETC_DATADIR" "$WORK/elsewhere/model.net" "${SMALL[@]}" -o "$WORK/elsewhere/m4.netg"
    NETC_PATH=$DEST$NETC_DATADIR expect 1 "$WORK/broken/lib/unet.net:1:" "the first folder that has the file wins" -- \
        "$INETC" -I "$WORK/broken" "$WORK/elsewhere/model.net" "${SMALL[@]}" -o "$WORK/elsewhere/m5.netg"
    expect 0 "" "beside the importer before -I" -- \
        "$INETC" -I "$WORK/broken" "$M" "${SMALL[@]}" -o "$WORK/elsewhere/m6.netg"
    NETC_PATH=$WORK/nope2: expect 1 "  searched: $WORK/elsewhere/, $WORK/nope, $WORK/nope2, $NETC_DATADIR" \
        "a missing import lists the folders searched, in order" -- \
        "$INETC" -I "$WORK/nope" "$WORK/elsewhere/model.net" "${SMALL[@]}" -o "$WORK/elsewhere/m3.netg"
fi
finish
