/*
 * csrf.js - carries this browser's CSRF token on every request the page makes.
 *
 * The server puts the token that matches this browser's (HttpOnly) CSRF
 * cookie into <meta name="csrf-token">. A POST is accepted only when it
 * carries the same token in the X-CSRF-Token header, which a cross-site form
 * or image cannot send. As the original app's csrf.js did, this file copies
 * the token into localStorage (so a page without the meta tag still has it)
 * and adds the header to every request made with fetch().
 *
 * The header is only added to same-origin requests: the token must never be
 * sent to another site. The meta tag wins over localStorage, because the
 * server may have set a fresh cookie with this very page.
 */
(function () {
    'use strict';

    var STORAGE_KEY = 'magicd.csrf-token';
    var HEADER = 'X-CSRF-Token';

    function readToken() {
        var meta = document.querySelector('meta[name="csrf-token"]');
        var token = meta ? meta.getAttribute('content') || '' : '';
        try {
            if (token) {
                window.localStorage.setItem(STORAGE_KEY, token);
            } else {
                token = window.localStorage.getItem(STORAGE_KEY) || '';
            }
        } catch (e) {
            /* Storage disabled (private mode, policy): the meta tag suffices. */
        }
        return token;
    }

    function isSameOrigin(url) {
        try {
            return new URL(url, window.location.href).origin === window.location.origin;
        } catch (e) {
            return false;
        }
    }

    function requestUrl(input) {
        if (typeof input === 'string') {
            return input;
        }
        if (input instanceof URL) {
            return input.href;
        }
        return input && input.url ? input.url : String(input);
    }

    var token = readToken();
    var nativeFetch = window.fetch.bind(window);

    window.fetch = function (input, init) {
        var opts = Object.assign({}, init || {});
        if (token && isSameOrigin(requestUrl(input))) {
            var base = opts.headers || (input instanceof Request ? input.headers : undefined);
            var headers = new Headers(base);
            if (!headers.has(HEADER)) {
                headers.set(HEADER, token);
            }
            opts.headers = headers;
            if (!opts.credentials) {
                opts.credentials = 'same-origin';
            }
        }
        return nativeFetch(input, opts);
    };

    window.magicdCsrf = {
        header: HEADER,
        token: function () {
            return token;
        }
    };
})();
