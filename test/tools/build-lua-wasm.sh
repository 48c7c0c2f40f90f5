#!/usr/bin/env bash
# Builds the reference Lua 5.3 interpreter with NodeMCU's numbers (LUA_32BITS:
# 32-bit integers, single-precision floats) to WebAssembly, for the simulator's
# `--runtime lua` (sim/lua/wasm.ts). The source is Debian's `lua5.3` source
# package, fetched with `apt-get source` through a deb-src list given in apt's
# options (the system's apt configuration is not changed); the compiler is
# Debian's emscripten. Output, cached until this script changes:
#   .cache/lua-wasm/lua53.js   (the wasm embedded, loaded synchronously)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=.cache/lua-wasm
STAMP="$OUT/stamp"
WANT=$(sha256sum test/tools/build-lua-wasm.sh | cut -d' ' -f1)
if [ -f "$OUT/lua53.js" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ]; then exit 0; fi

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
if ! command -v emcc >/dev/null; then
  echo "installing Debian's emscripten (to build Lua 5.3 for the lua runtime)"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends emscripten >/dev/null
fi

WORK="$OUT/work"
rm -rf "$WORK"; mkdir -p "$WORK/lists/partial"
# The deb-src list names the same archive the system's own apt uses (its
# deb822 .sources files or sources.list), for this release's codename.
. /etc/os-release
CODENAME=${VERSION_CODENAME:-bookworm}
URI=$(awk -v want="$CODENAME" '
  /^Types:/ { deb = ($0 ~ /[[:space:]]deb([[:space:]]|$)/) }
  /^URIs:/ { uri = $2 }
  /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == want && deb && !found) { print uri; found = 1 } }
  /^$/ { deb = 0; uri = "" }' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
if [ -z "$URI" ]; then
  URI=$(awk -v want="$CODENAME" '$1 == "deb" { u = ($2 ~ /^\[/) ? $3 : $2; s = ($2 ~ /^\[/) ? $4 : $3; if (s == want) { print u; exit } }' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n 1)
fi
[ -n "$URI" ] || { echo "no Debian archive for $CODENAME in the system's apt sources: cannot fetch the lua5.3 source package" >&2; exit 1; }
cat > "$WORK/src.sources" <<SOURCES
Types: deb-src
URIs: $URI
Suites: $CODENAME
Components: main
SOURCES
APT=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$PWD/$WORK" -o "Dir::State::Lists=$PWD/$WORK/lists" -o Debug::NoLocking=1)
echo "fetching Debian's lua5.3 source package"
apt-get "${APT[@]}" update -qq
(cd "$WORK" && apt-get "${APT[@]}" source --download-only lua5.3 >/dev/null 2>&1)
tar -xzf "$WORK"/lua5.3_*.orig.tar.gz -C "$WORK"
SRC=$(echo "$WORK"/lua-5.3.*/src)

# The C API the simulator calls (sim/lua/wasm.ts); macros (lua_pcall, lua_pop, ...) are built there from these.
API=(lua_absindex lua_gettop lua_settop lua_pushvalue lua_rotate lua_copy lua_checkstack
  lua_isnumber lua_isstring lua_isinteger lua_type lua_typename lua_tonumberx lua_tointegerx
  lua_toboolean lua_tolstring lua_rawlen lua_touserdata lua_rawequal lua_compare
  lua_pushnil lua_pushnumber lua_pushinteger lua_pushlstring lua_pushcclosure lua_pushboolean
  lua_pushlightuserdata lua_getglobal lua_gettable lua_getfield lua_geti lua_rawget lua_rawgeti
  lua_createtable lua_newuserdata lua_getmetatable lua_getuservalue lua_setglobal lua_settable
  lua_setfield lua_seti lua_rawset lua_rawseti lua_setmetatable lua_setuservalue lua_callk lua_pcallk
  lua_load lua_dump lua_gc lua_error lua_next lua_concat lua_len lua_close lua_newthread lua_status
  luaL_newstate luaL_openlibs luaL_loadbufferx luaL_checklstring luaL_optlstring luaL_checknumber
  luaL_optnumber luaL_checkinteger luaL_optinteger luaL_checktype luaL_checkany luaL_checkudata
  luaL_testudata luaL_newmetatable luaL_setmetatable luaL_getmetafield luaL_argerror luaL_tolstring
  luaL_ref luaL_unref luaL_traceback luaL_where luaL_len luaL_checkstack
  malloc free)
EXPORTS=$(printf '"_%s",' "${API[@]}"); EXPORTS="[${EXPORTS%,}]"
mapfile -t CORE < <(ls "$SRC"/*.c | grep -v -e '/lua\.c$' -e '/luac\.c$')
echo "compiling Lua 5.3 (LUA_32BITS) to WebAssembly"
# Debian installs the optimizer's JavaScript modules (acorn) where a non-Debian node does not look.
# -Wno-string-plus-int: lundump.c's `LUA_SIGNATURE + 1` is meant (skips the first char); the warning is noise at every first start.
NODE_PATH=/usr/share/nodejs${NODE_PATH:+:$NODE_PATH} emcc -O2 -Wno-string-plus-int -DLUA_32BITS -DLUA_COMPAT_5_2 "${CORE[@]}" -o "$OUT/lua53.js" \
  -sMODULARIZE=1 -sEXPORT_NAME=createLua -sSINGLE_FILE=1 -sWASM_ASYNC_COMPILATION=0 \
  -sALLOW_MEMORY_GROWTH=1 -sALLOW_TABLE_GROWTH=1 -sENVIRONMENT=node -sFILESYSTEM=0 -sNODEJS_CATCH_EXIT=0 -sNODEJS_CATCH_REJECTION=0 \
  -sEXPORTED_FUNCTIONS="$EXPORTS" -sEXPORTED_RUNTIME_METHODS='["addFunction","removeFunction","HEAPU8","HEAP32"]'
rm -rf "$WORK"
echo "$WANT" > "$STAMP"
