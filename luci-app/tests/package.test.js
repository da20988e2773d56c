'use strict';
/*
 * Packaging checks: the JSON files parse, the rpcd ACL grants exactly
 * what the page needs (an ACL failure shows in LuCI as "Session expired"),
 * the menu entry is the one the dispatcher expects, and the Makefile is a
 * luci.mk application.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { APP, RESOURCES, parseRequires, classPath } = require('./luci-loader');
const { jsFiles } = require('./i18n');

const ACL_FILE = path.join(APP, 'root/usr/share/rpcd/acl.d/luci-app-nftoffload.json');
const MENU_FILE = path.join(APP, 'root/usr/share/luci/menu.d/luci-app-nftoffload.json');
const VIEW_FILE = path.join(RESOURCES, 'view/nftoffload.js');

const readJson = (f) => JSON.parse(fs.readFileSync(f, 'utf8'));

/* LuCI's built-in classes (luci.js) and those shipped by luci-base. */
const LUCI_CLASSES = new Set([ 'baseclass', 'dom', 'poll', 'request', 'session', 'view',
	'form', 'fs', 'firewall', 'network', 'rpc', 'uci', 'ui', 'validation', 'tools.widgets', 'tools.views' ]);

test('every JSON file of the package parses', () => {
	const files = [];
	(function walk(d) {
		for (const e of fs.readdirSync(d, { withFileTypes: true })) {
			const p = path.join(d, e.name);
			if (e.isDirectory()) walk(p);
			else if (e.name.endsWith('.json')) files.push(p);
		}
	})(path.join(APP, 'root'));

	assert.deepEqual(files.map((f) => path.relative(APP, f)).sort(), [
		'root/usr/share/luci/menu.d/luci-app-nftoffload.json',
		'root/usr/share/rpcd/acl.d/luci-app-nftoffload.json'
	]);
	for (const f of files)
		assert.doesNotThrow(() => readJson(f), f);
});

test('the ACL grants exactly status/flows to read and set/reload to write, and nothing more', () => {
	const acl = readJson(ACL_FILE);

	assert.deepEqual(Object.keys(acl), [ 'luci-app-nftoffload' ]);
	const a = acl['luci-app-nftoffload'];
	assert.equal(typeof a.description, 'string');
	assert.deepEqual(Object.keys(a).sort(), [ 'description', 'read', 'write' ]);
	assert.deepEqual(a.read, { ubus: { nftoffload: [ 'status', 'flows' ] }, uci: [ 'nftoffload', 'firewall' ] });
	assert.deepEqual(a.write, { ubus: { nftoffload: [ 'set', 'reload' ] }, uci: [ 'nftoffload', 'firewall' ] });
});

/* ubus object/method pairs declared with rpc.declare in a source. */
function declaredCalls(src) {
	const calls = [];
	const re = /rpc\.declare\(\s*\{([\s\S]*?)\}\s*\)/g;
	let m;
	while ((m = re.exec(src)) !== null) {
		const obj = /object:\s*'([^']+)'/.exec(m[1]);
		const meth = /method:\s*'([^']+)'/.exec(m[1]);
		assert.ok(obj && meth, 'rpc.declare with literal object and method: ' + m[1]);
		calls.push(obj[1] + '.' + meth[1]);
	}
	return calls;
}

/* UCI packages a source reads and writes. */
function uciUse(src) {
	const read = new Set(), write = new Set();
	const names = (arg) => (arg.match(/'([^']+)'/g) || []).map((s) => s.slice(1, -1));
	let m;

	for (const re of [ /uci\.(load|get|get_first|sections)\(\s*(\[[^\]]*\]|'[^']*')/g, /\.chain\(\s*('[^']*')/g ])
		while ((m = re.exec(src)) !== null)
			names(m[m.length - 1]).forEach((n) => read.add(n));

	for (const re of [ /uci\.(set|unset|add|remove|set_first|unset_first)\(\s*('[^']*')/g, /new form\.Map\(\s*('[^']*')/g ])
		while ((m = re.exec(src)) !== null)
			names(m[m.length - 1]).forEach((n) => { read.add(n); write.add(n); });

	/* a form.Map saves through uci.save(), which writes every package changed locally */
	return { read, write };
}

test('every ubus call and UCI package the page uses is granted by the ACL', () => {
	const a = readJson(ACL_FILE)['luci-app-nftoffload'];
	const granted = new Set();
	for (const part of [ a.read, a.write ])
		for (const [ obj, methods ] of Object.entries(part.ubus || {}))
			methods.forEach((me) => granted.add(obj + '.' + me));

	const all = jsFiles().map((f) => fs.readFileSync(f, 'utf8')).join('\n');
	const calls = declaredCalls(all);

	assert.deepEqual(calls.sort(), [ 'nftoffload.flows', 'nftoffload.status' ]);
	for (const c of calls)
		assert.ok(granted.has(c), c + ' is not in the ACL');

	const use = uciUse(all);
	assert.deepEqual([ ...use.read ].sort(), [ 'firewall', 'nftoffload' ]);
	for (const p of use.read)
		assert.ok(a.read.uci.includes(p), 'uci read ' + p);
	for (const p of use.write)
		assert.ok(a.write.uci.includes(p), 'uci write ' + p);
	assert.ok(use.write.has('firewall'), 'the global-offload fix writes the firewall config');
});

test('the page does not save through the daemon: no set/reload call from the JS', () => {
	const all = jsFiles().map((f) => fs.readFileSync(f, 'utf8')).join('\n');
	assert.doesNotMatch(all, /method:\s*'(set|reload)'/);
});

test('the menu entry: admin/network/nftoffload, view nftoffload, ACL and UCI dependency', () => {
	const menu = readJson(MENU_FILE);

	assert.deepEqual(Object.keys(menu), [ 'admin/network/nftoffload' ]);
	const e = menu['admin/network/nftoffload'];
	assert.equal(e.title, 'Flow Offloading');
	assert.deepEqual(e.action, { type: 'view', path: 'nftoffload' });
	assert.deepEqual(e.depends, { acl: [ 'luci-app-nftoffload' ], uci: { nftoffload: true } });
	assert.equal(typeof e.order, 'number');

	/* the view path resolves to the file LuCI will load */
	assert.ok(fs.existsSync(path.join(RESOURCES, 'view', e.action.path + '.js')));
	/* the ACL named in the menu exists */
	assert.ok(readJson(ACL_FILE)[e.depends.acl[0]]);
});

test('class headers: every require names a LuCI class or a file of this package', () => {
	for (const f of jsFiles()) {
		const src = fs.readFileSync(f, 'utf8');
		assert.match(src, /^'use strict';\n/, f + ' starts with use strict');

		for (const r of parseRequires(src)) {
			if (LUCI_CLASSES.has(r.name))
				continue;
			assert.ok(fs.existsSync(classPath(r.name)), f + ": 'require " + r.name + "' resolves to no file");
		}
	}

	/* exactly the header, nothing picked up from comments or code below it */
	const reqs = parseRequires(fs.readFileSync(VIEW_FILE, 'utf8')).map((r) => r.name + ' as ' + r.as);
	assert.deepEqual(reqs, [ 'view as view', 'form as form', 'rpc as rpc', 'uci as uci', 'ui as ui',
		'poll as poll', 'dom as dom', 'nftoffload.logic as logic' ]);
	assert.deepEqual(parseRequires("'use strict';\n'require ui';\n/* it's */\nvar x = 'require fs';"),
		[ { name: 'ui', as: 'ui' } ], 'the scan stops at the first non-require string');
	assert.deepEqual(parseRequires("'use strict';\n'require ui';\n/* see 'require fs' */"),
		[ { name: 'ui', as: 'ui' }, { name: 'fs', as: 'fs' } ], 'a quoted require in a comment counts, as in luci.js');
});

test('the Makefile is a luci.mk application with the right name and dependencies', () => {
	const mk = fs.readFileSync(path.join(APP, 'Makefile'), 'utf8');
	const v = (name) => {
		const m = new RegExp('^' + name + ':=(.*)$', 'm').exec(mk);
		return m ? m[1].trim() : null;
	};

	assert.match(mk, /^include \$\(TOPDIR\)\/rules\.mk$/m);
	assert.match(mk, /^include \.\.\/\.\.\/luci\.mk$/m);
	assert.ok(mk.indexOf('LUCI_DEPENDS') < mk.indexOf('include ../../luci.mk'), 'variables before the include');
	assert.equal(v('LUCI_NAME'), 'luci-app-nftoffload');
	assert.equal(v('LUCI_DEPENDS'), '+luci-base +nft-offload');
	assert.ok(v('LUCI_TITLE'));
	assert.equal(v('PKG_LICENSE'), 'GPL-2.0-only');
	assert.match(v('PKG_VERSION'), /^\d+\.\d+\.\d+$/, 'a version apk accepts');
});
