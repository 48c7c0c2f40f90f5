/**
 * Espruino builds an event emitter into every object (src/jswrap_object.c in
 * 2v29): `on` :809 and `addListener` :860 (the same), `prependListener` :926,
 * `emit` :948, `removeListener` :1004, `removeAllListeners` :1054. So on the
 * board `({}).on` is a function, and a map read by key finds these names even
 * where the map has no such field (the reason the services' switch is called
 * `enabled`, firmware/config.ts). This script runs INSIDE the emulated board's
 * vm context, so the program under test meets the same names as on the board.
 *
 * Listeners live under a hidden per-event key, as Espruino's JS_EVENT_PREFIX
 * children do; `emit` queues the calls (jsiQueueEvents, jswrap_object.c:994)
 * instead of making them at once, through the board's timer queue, and takes
 * at most 4 arguments (MAX_EMIT_ARGS, :968).
 */
export const OBJECT_EVENTS_SCRIPT = `(function (defer) {
  var KEY = "\\u00ffon";
  function store(o) {
    if (!Object.prototype.hasOwnProperty.call(o, KEY)) Object.defineProperty(o, KEY, { value: {}, enumerable: false });
    return o[KEY];
  }
  function add(front) {
    return function (event, listener) {
      if (typeof listener !== "function") throw new TypeError("Listener must be a function");
      var s = store(this), name = String(event);
      if (!s[name]) s[name] = [];
      if (front) s[name].unshift(listener); else s[name].push(listener);
    };
  }
  var methods = {
    on: add(false),
    addListener: add(false),
    prependListener: add(true),
    emit: function (event) {
      if (typeof event !== "string") throw new TypeError("First argument must be String");
      if (arguments.length > 5) throw new TypeError("Too many arguments (>4)");
      var list = (store(this)[event] || []).slice(), self = this, args = Array.prototype.slice.call(arguments, 1);
      if (list.length) defer(function () { for (var i = 0; i < list.length; i++) list[i].apply(self, args); });
    },
    removeListener: function (event, listener) {
      var list = store(this)[String(event)];
      if (list) { var i = list.indexOf(listener); if (i >= 0) list.splice(i, 1); }
    },
    removeAllListeners: function (event) {
      var s = store(this);
      if (event === undefined) { for (var k in s) delete s[k]; } else delete s[String(event)];
    },
  };
  for (var name in methods) Object.defineProperty(Object.prototype, name, { value: methods[name], writable: true, configurable: true, enumerable: false });
})`;
