'use strict';
/*
 * The page talks to nothing but LuCI's own endpoints: rpc/uci through
 * LuCI's classes. No URLs, no fetch/XHR/WebSocket/EventSource/beacons,
 * no external scripts, styles, fonts or images.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { APP } = require('./luci-loader');
const { jsFiles } = require('./i18n');

const FORBIDDEN = [
	[ /\bhttps?:\/\//i, 'an absolute http(s) URL' ],
	[ /(^|[^\w])\/\/[a-z0-9-]+\.[a-z]{2,}/i, 'a protocol-relative URL' ],
	[ /\bwss?:\/\//i, 'a websocket URL' ],
	[ /\bfetch\s*\(/, 'fetch()' ],
	[ /\bXMLHttpRequest\b/, 'XMLHttpRequest' ],
	[ /\bnew\s+WebSocket\b/, 'WebSocket' ],
	[ /\bEventSource\b/, 'EventSource' ],
	[ /\bsendBeacon\b/, 'navigator.sendBeacon' ],
	[ /\bimportScripts\b|\bimport\s*\(/, 'dynamic script import' ],
	[ /\bL\.(get|post|poll)\s*\(/, 'legacy L.get/L.post/L.poll HTTP helpers' ],
	[ /\brequest\.(get|post|request)\s*\(/, 'raw LuCI.request HTTP calls' ],
	[ /\bfs\.(exec|exec_direct|read|write)\s*\(/, 'file/exec access through fs' ],
	[ /(['"])\s*<\s*(script|iframe|img|link)\b/i, 'markup that loads a resource' ],
	[ /\burl\s*\(/i, 'a CSS url()' ],
	[ /@import\b/i, 'a CSS @import' ]
];

function sources() {
	return jsFiles().map((f) => ({ file: path.relative(APP, f), text: fs.readFileSync(f, 'utf8') }));
}

test('the checker itself catches what it is meant to catch', () => {
	const hits = (s) => FORBIDDEN.filter(([ re ]) => re.test(s)).map(([ , what ]) => what);

	assert.deepEqual(hits("fetch('/cgi-bin/x')"), [ 'fetch()' ]);
	assert.deepEqual(hits('var x = new XMLHttpRequest();'), [ 'XMLHttpRequest' ]);
	assert.deepEqual(hits("new WebSocket('ws://h')"), [ 'a websocket URL', 'WebSocket' ]);
	assert.deepEqual(hits("E('<img src=\"a.png\">')"), [ 'markup that loads a resource' ]);
	assert.deepEqual(hits("'https://example.org/x.js'"), [ 'an absolute http(s) URL', 'a protocol-relative URL' ]);
	assert.deepEqual(hits("rpc.declare({ object: 'nftoffload', method: 'status' })"), []);
});

test('no JS file of the page makes network requests of its own', () => {
	const found = [];

	for (const { file, text } of sources())
		text.split('\n').forEach((line, i) => {
			for (const [ re, what ] of FORBIDDEN)
				if (re.test(line))
					found.push(file + ':' + (i + 1) + ': ' + what + ': ' + line.trim());
		});

	assert.deepEqual(found, []);
});

test('the only remote calls are rpc.declare()d ubus methods', () => {
	for (const { file, text } of sources()) {
		const rpcUses = text.match(/\brpc\.\w+/g) || [];
		assert.ok(rpcUses.every((u) => u === 'rpc.declare'), file + ': ' + rpcUses.join(', '));
	}
});
