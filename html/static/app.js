/*
 * app.js - the behaviour of the login pages: request a link, redeem it, show
 * the protected page, sign out.
 *
 * Every page loads csrf.js first (it adds X-CSRF-Token to same-origin fetches)
 * and then this file, which runs the controller named by <body data-page>.
 * The pages are served under a CSP without 'unsafe-inline', which is why
 * there is no script in the HTML itself.
 *
 * The server answers a fetch() with a small HTML fragment (or text/plain for
 * short errors). Fragments come from our own server with every user value
 * escaped, but they are still parsed with DOMParser and imported node by node
 * rather than assigned to innerHTML: scripts in a parsed document never run,
 * and when an error arrives as a whole page (html/error.html) only its marked
 * part ([data-fragment]) is taken, not its <head>.
 *
 * A POST that succeeds is answered with 303 See Other; fetch() follows it, so
 * the page looks at res.redirected and res.url to learn where the server sent
 * the browser and then navigates there with location.replace(), so that the
 * Back button does not return to a one-time link. The verify page asks for
 * JSON instead ({"location": URL}): after sign-in the browser may go back to
 * another origin (return-to, single sign-on across subdomains), and fetch()
 * cannot follow a redirect there, while a navigation can.
 */
(function () {
    'use strict';

    var FORM_TYPE = 'application/x-www-form-urlencoded';

    function $(id) {
        return document.getElementById(id);
    }

    function post(url, body, accept) {
        var opts = {
            method: 'POST',
            credentials: 'same-origin',
            cache: 'no-store',
            headers: { Accept: accept || 'text/html, text/plain;q=0.9' }
        };
        var token = window.magicdCsrf ? window.magicdCsrf.token() : '';
        if (token) {
            opts.headers[window.magicdCsrf.header] = token;
        }
        if (body !== undefined) {
            opts.headers['Content-Type'] = FORM_TYPE;
            opts.body = body;
        }
        return window.fetch(url, opts);
    }

    function pathOf(url) {
        try {
            return new URL(url, window.location.href).pathname;
        } catch (e) {
            return '';
        }
    }

    function isHtml(res) {
        return /^\s*text\/html/i.test(res.headers.get('Content-Type') || '');
    }

    /* The response body as nodes ready to insert into this document. */
    function bodyNodes(res) {
        return res.text().then(function (text) {
            var frag = document.createDocumentFragment();
            if (!isHtml(res)) {
                var p = document.createElement('p');
                p.textContent = text.trim();
                if (p.textContent) {
                    frag.appendChild(p);
                }
                return frag;
            }
            var doc = new DOMParser().parseFromString(text, 'text/html');
            var root = doc.querySelector('[data-fragment]') || doc.body;
            Array.prototype.forEach.call(root.childNodes, function (n) {
                if (n.nodeName !== 'SCRIPT') {
                    frag.appendChild(document.importNode(n, true));
                }
            });
            return frag;
        });
    }

    function box(kind, nodes) {
        var div = document.createElement('div');
        div.className = kind;
        if (kind === 'error') {
            div.setAttribute('role', 'alert');
        }
        div.appendChild(nodes);
        return div;
    }

    function para(text) {
        var frag = document.createDocumentFragment();
        var p = document.createElement('p');
        p.textContent = text;
        frag.appendChild(p);
        return frag;
    }

    function show(target, node, status) {
        target.replaceChildren(node);
        if (status !== undefined) {
            target.setAttribute('data-status', String(status));
        } else {
            target.removeAttribute('data-status');
        }
    }

    function waitText(retryAfter) {
        var s = parseInt(retryAfter, 10);
        if (!(s > 0)) {
            return 'a little while';
        }
        if (s < 90) {
            return s + (s === 1 ? ' second' : ' seconds');
        }
        var m = Math.ceil(s / 60);
        return 'about ' + m + ' minutes';
    }

    function networkError(target) {
        var msg = 'Could not reach the server. Check your connection and try again.';
        show(target, box('error', para(msg)), 0);
    }

    /* GET /login: ask for a link. */
    function loginPage() {
        var form = $('login-form');
        var email = $('email');
        var submit = $('submit');
        var result = $('result');
        var rd = $('rd');
        if (!form || !email || !submit || !result) {
            return;
        }
        form.addEventListener('submit', function (ev) {
            ev.preventDefault();
            var value = email.value.trim();
            if (!value) {
                show(result, box('error', para('Please enter your email address.')), 400);
                email.focus();
                return;
            }
            submit.disabled = true;
            submit.setAttribute('aria-busy', 'true');
            var body = 'email=' + encodeURIComponent(value);
            if (rd && rd.value) {
                body += '&rd=' + encodeURIComponent(rd.value);
            }
            post('/magic/generate', body)
                .then(function (res) {
                    if (res.status === 429) {
                        var wait = waitText(res.headers.get('Retry-After'));
                        var msg = 'Too many sign-in requests. Please wait ' + wait +
                                  ' and try again.';
                        return show(result, box('error', para(msg)), 429);
                    }
                    return bodyNodes(res).then(function (nodes) {
                        if (res.ok) {
                            show(result, box('notice', nodes), res.status);
                            codeForm(result);
                            return;
                        }
                        if (!nodes.hasChildNodes()) {
                            nodes = para(res.status === 400
                                             ? 'Please check the email address and try again.'
                                             : 'Something went wrong (' + res.status +
                                                   '). Please try again.');
                        }
                        if (res.status === 400) {
                            email.setAttribute('aria-invalid', 'true');
                        }
                        return show(result, box('error', nodes), res.status);
                    });
                })
                .catch(function () {
                    networkError(result);
                })
                .then(function () {
                    submit.disabled = false;
                    submit.removeAttribute('aria-busy');
                });
        });
        email.addEventListener('input', function () {
            email.removeAttribute('aria-invalid');
        });
    }

    /* The code form inside the "link sent" answer: POST /magic/code with the
     * form's ticket, then go where the server sends the browser (303 to the
     * protected page) or show why not (wrong code, too many tries, expired). */
    function codeForm(root) {
        var form = root.querySelector('#code-form');
        var input = root.querySelector('#code');
        var button = root.querySelector('#code-submit');
        var out = root.querySelector('#code-result');
        if (!form || !input || !button || !out) {
            return;
        }
        form.addEventListener('submit', function (ev) {
            ev.preventDefault();
            var ticket = form.querySelector('input[name="ticket"]');
            var code = input.value.replace(/[\s-]/g, '');
            if (!/^[0-9]{6}$/.test(code)) {
                show(out, box('error', para('Enter the 6 digits of the code from the mail.')), 400);
                input.focus();
                return;
            }
            button.disabled = true;
            var body = 'ticket=' + encodeURIComponent(ticket ? ticket.value : '') +
                       '&code=' + encodeURIComponent(code);
            post('/magic/code', body)
                .then(function (res) {
                    if (res.ok && res.redirected) {
                        window.location.replace(res.url);
                        return;
                    }
                    return bodyNodes(res).then(function (nodes) {
                        if (!nodes.hasChildNodes()) {
                            nodes = para('The code was not accepted (' + res.status + ').');
                        }
                        input.setAttribute('aria-invalid', 'true');
                        show(out, box('error', nodes), res.status);
                    });
                })
                .catch(function () {
                    networkError(out);
                })
                .then(function () {
                    button.disabled = false;
                });
        });
        input.addEventListener('input', function () {
            input.removeAttribute('aria-invalid');
        });
    }

    /* GET /magic/verify/:token: redeem the link by posting it back. */
    function verifyPage() {
        var result = $('verify-result');
        var heading = $('verify-heading');
        var spinner = $('verify-spinner');
        if (!result) {
            return;
        }
        post(window.location.pathname, undefined, 'application/json, text/html;q=0.9')
            .then(function (res) {
                var type = res.headers.get('Content-Type') || '';
                if (res.ok && /^\s*application\/json/i.test(type)) {
                    return res.json().then(function (data) {
                        window.location.replace(data && data.location ? data.location : '/secure/1');
                    });
                }
                if (res.ok && res.redirected && pathOf(res.url) !== window.location.pathname) {
                    window.location.replace(res.url);
                    return;
                }
                if (res.ok) {
                    window.location.replace('/secure/1');
                    return;
                }
                return bodyNodes(res).then(function (nodes) {
                    if (!nodes.hasChildNodes()) {
                        nodes = para('This sign-in link cannot be used (' + res.status + ').');
                    }
                    if (heading) {
                        heading.textContent = 'This sign-in link did not work';
                    }
                    document.title = 'Sign-in link not accepted - magicd';
                    show(result, box('error', nodes), res.status);
                    $('verify-again').hidden = false;
                });
            })
            .catch(function () {
                networkError(result);
            })
            .then(function () {
                if (spinner) {
                    spinner.hidden = true;
                }
            });
    }

    function goLogin() {
        window.location.replace('/login');
    }

    /* GET /secure/:id: fetch the protected content with the session cookie. */
    function securePage() {
        var main = $('secure');
        var content = $('secure-content');
        var logout = $('logout');
        if (!main || !content) {
            return;
        }
        post(main.getAttribute('data-url'))
            .then(function (res) {
                if (res.redirected && pathOf(res.url) === '/login') {
                    goLogin();
                    return;
                }
                return bodyNodes(res).then(function (nodes) {
                    if (res.ok) {
                        show(content, nodes, res.status);
                        if (logout) {
                            logout.hidden = false;
                        }
                        return;
                    }
                    if (res.status === 401) {
                        goLogin();
                        return;
                    }
                    if (!nodes.hasChildNodes()) {
                        nodes = para('Could not load this page (' + res.status + ').');
                    }
                    show(content, box('error', nodes), res.status);
                });
            })
            .catch(function () {
                networkError(content);
            });
        if (logout) {
            logout.addEventListener('click', function () {
                logout.disabled = true;
                post('/logout')
                    .then(function (res) {
                        if (res.redirected && res.url) {
                            window.location.replace(res.url);
                        } else if (res.ok) {
                            goLogin();
                        } else {
                            logout.disabled = false;
                            var msg = 'Sign-out failed (' + res.status + '). Please try again.';
                            show(content, box('error', para(msg)), res.status);
                        }
                    })
                    .catch(function () {
                        logout.disabled = false;
                        networkError(content);
                    });
            });
        }
    }

    var pages = { login: loginPage, verify: verifyPage, secure: securePage };

    function start() {
        /* Marks the page as scripted: tests (and styles) can tell app.js ran. */
        document.documentElement.classList.add('js');
        var run = pages[document.body.getAttribute('data-page')];
        if (run) {
            run();
        }
    }

    if (document.readyState === 'loading') {
        document.addEventListener('DOMContentLoaded', start);
    } else {
        start();
    }
})();
