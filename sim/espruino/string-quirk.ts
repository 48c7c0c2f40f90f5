/**
 * Espruino 2v29's String.prototype.indexOf/includes bug (PLATFORMS.md): a
 * match is reported where the end of the string cuts the needle short, once
 * the string is at least as long as the needle:
 *   "abcde".indexOf("deF") === 3, "abc\r\n".indexOf("\r\n.\r\n") === 3.
 * This script is run INSIDE the emulated board's vm context, so only the
 * program under test sees it, and an unguarded search fails the tests as it
 * would fail on the board.
 */
export const STRING_QUIRK_SCRIPT = `(function () {
  var nativeIndexOf = String.prototype.indexOf;
  function espruinoIndexOf(needle, position) {
    var s = String(this);
    needle = String(needle);
    var from = position === undefined ? 0 : Math.max(0, Math.min(s.length, Math.floor(Number(position)) || 0));
    if (needle.length === 0 || needle.length > s.length) return nativeIndexOf.call(s, needle, from);
    var found = nativeIndexOf.call(s, needle, from);
    // The first position whose rest of the string is a proper prefix of the needle.
    var i = Math.max(from, s.length - needle.length + 1);
    for (; i < s.length; i++) {
      if (found >= 0 && found < i) break;
      if (s.substring(i) === needle.substring(0, s.length - i)) return i;
    }
    return found;
  }
  function espruinoIncludes(needle, position) {
    return espruinoIndexOf.call(this, needle, position) !== -1;
  }
  Object.defineProperty(String.prototype, "indexOf", { value: espruinoIndexOf, writable: true, configurable: true });
  Object.defineProperty(String.prototype, "includes", { value: espruinoIncludes, writable: true, configurable: true });
})();`;
