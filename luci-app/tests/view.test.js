'use strict';
/*
 * The view, run against TEST DOUBLES of the LuCI runtime (see
 * luci-doubles.js for what they copy from the real code and why the real
 * thing cannot run here). It checks what a user would see: one row per
 * firewall zone, hints, live numbers, the conflict fix, the flows table,
 * and a clear message - never a blank page or an exception - when the
 * daemon is down or answers nonsense.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { RESOURCES, evalClassFile, loadLogic } = require('./luci-loader');
const D = require('./luci-doubles');

const VIEW_FILE = path.join(RESOURCES, 'view/nftoffload.js');
const XSS = '<img src=x onerror=alert(1)>';

function fwConfig(defaults) {
	return [
		Object.assign({ '.name': 'cfg01', '.type': 'defaults', input: 'REJECT' }, defaults || {}),
		{ '.name': 'cfg02', '.type': 'zone', name: 'lan', network: [ 'lan' ] },
		{ '.name': 'cfg03', '.type': 'zone', name: 'wan', network: [ 'wan', 'wan6' ] },
		{ '.name': 'cfg04', '.type': 'zone', name: 'guest', network: 'guest' }
	];
}

function offConfig() {
	return [
		{ '.name': 'globals', '.type': 'globals', enabled: '1' },
		{ '.name': 'cfg0a', '.type': 'zone', name: 'lan', mode: 'hardware' },
		{ '.name': 'cfg0b', '.type': 'zone', name: 'old', mode: 'software' }
	];
}

function status(over) {
	return Object.assign({
		version: '0.1.0',
		enabled: true,
		kernel: { supported: true, missing_modules: [], package: 'kmod-nft-offload', message: '' },
		fw4_conflict: { active: false, flow_offloading: false, flow_offloading_hw: false, message: '' },
		zone_attribution: 'ct-label',
		offloaded: { software: 3, hardware: 1, tracked: 57 },
		zones: [
			{
				name: 'lan', mode: 'hardware', effective: 'software', reason: 'lan1: no hw-tc-offload ' + XSS,
				l3_devices: [ 'br-lan' ],
				devices: [
					{ name: 'lan1', exists: true, hw_tc_offload: false, flowtable: 'software', reason: 'no hw-tc-offload' },
					{ name: 'lan2', exists: true, hw_tc_offload: true, flowtable: 'software', reason: '' }
				],
				offloaded: { software: 3, hardware: 0 }
			},
			{
				name: 'wan', mode: 'off', effective: 'off', reason: '',
				l3_devices: [ 'pppoe-wan' ],
				devices: [ { name: 'wan', exists: true, hw_tc_offload: true, flowtable: 'none', reason: '' } ],
				offloaded: { software: 0, hardware: 1 }
			}
		],
		flowtables: [],
		last_apply: { ok: true, error: '', duration_us: 812, time: 1764000000 }
	}, over || {});
}

const FLOWS = { flows: [
	{ proto: 'tcp', src: '192.168.1.10', sport: 40000, dst: '10.0.0.2', dport: 5201, bytes: 123456, packets: 99, offload: 'software', zones: [ 'lan', 'wan' ] },
	{ proto: 'udp', src: '2001:db8::1', sport: 53, dst: XSS, dport: 53, bytes: 10, packets: 1, offload: 'hardware', zones: [ 'lan', 'wan' ] }
] };

const DOWN = () => new Error('RPC call to nftoffload/status failed with error -32000: Object not found');

/* A page with fresh doubles; `reply(method, params)` answers ubus calls. */
async function openPage(opts) {
	opts = opts || {};
	const uci = D.makeUci({ firewall: fwConfig(opts.defaults), nftoffload: offConfig() });
	const rpc = D.makeRpc();
	const ui = D.makeUi();
	const poll = D.makePoll();
	const form = D.makeForm(uci);
	const logic = loadLogic();
	const errors = [];

	rpc.handler = (obj, method, params) => opts.reply(method, params);
	if (opts.failUciLoad)
		uci.state.failLoad = new Error('RPC call to uci/get failed with error -32002: Access denied');

	const View = evalClassFile(VIEW_FILE, {
		view: D.view, form, rpc, uci, ui, poll, dom: D.dom, 'nftoffload.logic': logic
	}, {
		window: { console: { error: (e) => errors.push(e) } },
		document: D.document,
		L: D.L,
		E: D.E
	});

	const v = new View();
	const data = await v.load();
	const node = await v.render(data);

	return { v, node, uci, rpc, ui, poll, form, errors, D,
		async tick() { await poll.entries[0].fn(); } };
}

function text(node) {
	return node.textContent.replace(/\s+/g, ' ');
}

function cell(page, zone, kind) {
	return page.node.querySelectorAll('[data-nftoffload-cell="' + kind + '"]').find((n) => n.getAttribute('data-zone') === zone);
}

function rows(page) {
	return page.node.querySelectorAll('tr.cbi-section-table-row');
}

function noJunkText(node) {
	for (const n of node.walk())
		if (n.nodeType === 3)
			assert.doesNotMatch(n.data, /\b(null|undefined|NaN)\b|\[object /, 'junk text node: ' + n.data);
}

test('a normal page: one row per firewall zone with devices, hints, state and counts', async () => {
	const p = await openPage({ reply: (m) => (m === 'status' ? status() : FLOWS) });

	assert.equal(p.node.nodeType, 1);
	assert.deepEqual(rows(p).map((r) => text(r.querySelector('strong'))), [ 'lan', 'wan', 'guest' ],
		'firewall zones in order; the stale "old" section has no row');

	/* zones without a section get one, locally, with their name */
	const pend = p.uci.pending();
	assert.deepEqual(Object.values(pend.creates.nftoffload).map((s) => [ s['.type'], s.name ]), [ [ 'zone', 'wan' ], [ 'zone', 'guest' ] ]);
	assert.equal(pend.changes.nftoffload, undefined, 'existing sections untouched');

	assert.equal(text(cell(p, 'lan', 'devices')),
		'br-lanFlow table devices: lan1, lan2Hardware offload not possible: lan1: no hw-tc-offload');
	assert.equal(text(cell(p, 'wan', 'devices')), 'pppoe-wanFlow table devices: wan');
	assert.equal(text(cell(p, 'guest', 'devices')), 'Networks: guest', 'unknown to the daemon: networks from the firewall config');

	assert.match(text(cell(p, 'lan', 'state')), /^Software \(configured: Hardware\)lan1: no hw-tc-offload/);
	assert.equal(text(cell(p, 'wan', 'state')), 'Off');
	assert.equal(text(cell(p, 'guest', 'state')), 'No status from the daemon');

	assert.equal(text(cell(p, 'lan', 'offloaded')), 'SW 3 · HW 0');
	assert.equal(text(cell(p, 'wan', 'offloaded')), 'SW 0 · HW 1');
	assert.equal(cell(p, 'lan', 'offloaded').querySelectorAll('svg').length, 1, 'a sparkline');

	/* the mode is an editable dropdown in the row, off/software/hardware */
	const sel = rows(p)[0].querySelector('select');
	assert.ok(sel, 'the mode dropdown is in the row');
	assert.deepEqual(sel.querySelectorAll('option').map((o) => o.getAttribute('value')), [ 'off', 'software', 'hardware' ]);
	assert.equal(sel.querySelector('option[selected]').getAttribute('value'), 'hardware');
	assert.equal(rows(p)[2].querySelector('option[selected]').getAttribute('value'), 'off', 'a new zone defaults to off');

	const grid = p.v.map.children[0];
	const mode = grid.children.find((o) => o.option === 'mode');
	assert.ok(grid instanceof p.form.GridSection);
	assert.ok(mode instanceof p.form.ListValue);
	assert.equal(mode.editable, true);
	assert.equal(mode.rmempty, false);
	assert.deepEqual(p.v.map.parsechain, [ 'nftoffload', 'firewall' ]);
	assert.equal(grid.modaltitle(rows(p)[0].getAttribute('data-sid')), 'Zone lan');

	const page = text(p.node);
	assert.match(page, /Daemon version ?0\.1\.0/);
	assert.match(page, /3 software, 1 hardware, out of 57 tracked connections/);
	assert.match(page, /Applied successfully in 0\.8 ms/);
	assert.doesNotMatch(page, /Live status unavailable|Global flow offloading conflicts/);

	noJunkText(p.node);
});

test('the live refresh is polled every 5 s and updates counts and sparklines', async () => {
	let sw = 3;
	const p = await openPage({ reply: (m) => {
		if (m !== 'status')
			return FLOWS;
		const s = status();
		s.zones[0].offloaded.software = sw;
		return s;
	} });

	assert.equal(p.poll.entries.length, 1);
	assert.equal(p.poll.entries[0].interval, 5);

	const points = () => cell(p, 'lan', 'offloaded').querySelector('polyline').getAttribute('points').split(' ').length;
	assert.equal(points(), 2, 'one sample: a flat line');

	sw = 42;
	await p.tick();
	assert.equal(text(cell(p, 'lan', 'offloaded')), 'SW 42 · HW 0');
	assert.equal(points(), 2);
	await p.tick();
	assert.equal(points(), 3);

	const calls = p.rpc.calls.map((c) => c.method + JSON.stringify(c.params));
	assert.deepEqual([ ...new Set(calls) ].sort(), [ 'flows{"limit":20}', 'status{}' ]);
	assert.deepEqual(p.errors, []);
});

test('daemon not running: a clear message, the form still there, no exception', async () => {
	const p = await openPage({ reply: () => DOWN() });
	const page = text(p.node);

	assert.match(page, /Live status unavailable/);
	assert.match(page, /The nftoffload daemon is not running/);
	assert.match(page, /Zone modes can still be changed and saved below/);
	assert.match(page, /Not available: The nftoffload daemon is not running/);
	assert.equal(rows(p).length, 3, 'the zones can still be configured');
	assert.equal(text(cell(p, 'lan', 'offloaded')), '-');
	assert.equal(text(cell(p, 'wan', 'devices')), 'Networks: wan, wan6');
	assert.ok(p.node.querySelector('.alert-message.error'));
	assert.doesNotMatch(page, /at \S+ \(|\.js:\d+/, 'no stack trace');
	noJunkText(p.node);
});

test('the daemon stops and comes back while the page is open', async () => {
	let up = true;
	const p = await openPage({ reply: (m) => (!up ? DOWN() : (m === 'status' ? status() : FLOWS)) });

	up = false;
	await p.tick();
	assert.match(text(p.node), /The nftoffload daemon is not running/);
	assert.equal(text(cell(p, 'lan', 'state')), 'No status from the daemon');

	up = true;
	await p.tick();
	assert.doesNotMatch(text(p.node), /not running/);
	assert.equal(text(cell(p, 'lan', 'offloaded')), 'SW 3 · HW 0');
	assert.equal(cell(p, 'lan', 'offloaded').querySelector('polyline').getAttribute('points').split(' ').length, 2,
		'two successful samples');
	assert.deepEqual(p.errors, []);
});

test('other failures: wrong reply, ubus error status, missing method, uci not loadable', async () => {
	let p = await openPage({ reply: (m) => (m === 'status' ? 4 : FLOWS) });
	assert.match(text(p.node), /sent a reply this page does not understand/);

	p = await openPage({ reply: () => new Error('RPC call to nftoffload/status failed with ubus code 9: Unspecified error') });
	assert.match(text(p.node), /answered with an error \(ubus status 9\)/);

	p = await openPage({ reply: (m) => (m === 'status' ? status() : new Error('failed with error -32601: Method not found')) });
	assert.match(text(p.node), /Not available: The running nftoffload daemon does not offer this call/);
	assert.match(text(p.node), /Daemon version/, 'status still shown');

	p = await openPage({ reply: () => status(), failUciLoad: true });
	assert.match(text(p.node), /The configuration could not be loaded\..*Access to the nftoffload ubus object was denied|The configuration could not be loaded/);
	assert.equal(p.poll.entries.length, 0);
});

test('kernel support missing: says which modules and which package', async () => {
	const p = await openPage({ reply: (m) => (m === 'status'
		? status({ kernel: { supported: false, missing_modules: [ 'nft_flow_offload' ], package: 'kmod-nft-offload', message: 'probe: ENOENT' } })
		: FLOWS) });
	const page = text(p.node);

	assert.match(page, /The kernel lacks flow offloading support \(missing modules: nft_flow_offload\)/);
	assert.match(page, /opkg install kmod-nft-offload/);
	assert.match(page, /apk add kmod-nft-offload/);
	assert.match(page, /probe: ENOENT/);
});

test('fw4 global offload conflict: explained, and fixed through UCI after confirming', async () => {
	const conflict = { active: true, flow_offloading: true, flow_offloading_hw: false, message: '' };
	const p = await openPage({
		defaults: { flow_offloading: '1' },
		reply: (m) => (m === 'status' ? status({ fw4_conflict: conflict }) : FLOWS)
	});

	assert.match(text(p.node), /Global flow offloading conflicts with the zone settings/);
	assert.match(text(p.node), /Software flow offloading is switched on globally/);

	const btn = p.node.querySelectorAll('button').find((b) => /Turn off global offloading/.test(text(b)));
	assert.ok(btn, 'a one-click fix');

	/* first click only asks */
	btn.click();
	assert.ok(p.ui.modal, 'a confirmation dialog');
	assert.equal(p.uci.get('firewall', 'cfg01', 'flow_offloading'), '1', 'nothing changed before confirming');

	/* Cancel closes and changes nothing */
	p.ui.modal.querySelectorAll('button').find((b) => text(b) === 'Cancel').click();
	assert.equal(p.ui.modal, null);
	assert.equal(p.uci.pending().changes.firewall, undefined);

	/* confirm: both switches to 0 in firewall.@defaults[0], pending Save & Apply */
	btn.click();
	await p.ui.modal.querySelectorAll('button').find((b) => text(b) === 'Turn off').click()[0];
	assert.equal(p.ui.modal, null);
	assert.deepEqual(p.uci.pending().changes.firewall, { cfg01: { flow_offloading: '0', flow_offloading_hw: '0' } });
	assert.match(text(p.node), /Global flow offloading will be turned off when you press "Save & Apply"/);
	assert.equal(p.node.querySelectorAll('button').filter((b) => /Turn off global/.test(text(b))).length, 0);

	/* the daemon still reports it until applied: stays pending across polls */
	await p.tick();
	assert.match(text(p.node), /will be turned off when you press "Save & Apply"/);
	assert.deepEqual(p.rpc.calls.filter((c) => c.method === 'set' || c.method === 'reload'), [], 'never saves through the daemon');
});

test('top flows: tuple, human bytes, SW/HW', async () => {
	const p = await openPage({ reply: (m) => (m === 'status' ? status() : FLOWS) });
	const flowRows = p.v.flowsNode.querySelectorAll('tr').slice(1);

	assert.equal(flowRows.length, 2);
	assert.deepEqual(flowRows[0].querySelectorAll('td').map(text),
		[ 'TCP', '192.168.1.10:40000 → 10.0.0.2:5201', 'lan → wan', '121 KiB', '99', 'SW' ]);
	assert.equal(flowRows[1].querySelectorAll('td')[5].textContent, 'HW');
	assert.equal(flowRows[0].querySelectorAll('td')[3].getAttribute('data-title'), 'Bytes', 'labels for the mobile layout');

	const empty = await openPage({ reply: (m) => (m === 'status' ? status() : { flows: [] }) });
	assert.match(text(empty.v.flowsNode), /No offloaded connections right now/);
});

test('strings from the daemon are never parsed as HTML', async () => {
	D.htmlSinks.length = 0;
	const p = await openPage({ reply: (m) => (m === 'status' ? status() : FLOWS) });
	await p.tick();

	assert.ok(text(p.node).includes(XSS), 'shown as text');
	for (const html of D.htmlSinks)
		assert.ok(!html.includes('onerror'), 'daemon text reached innerHTML: ' + html);
	assert.equal(p.node.querySelectorAll('img').length, 0);
});
