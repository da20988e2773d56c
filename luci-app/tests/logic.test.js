'use strict';
/* Unit tests of nftoffload/logic.js: ubus replies → what the page shows. */
const test = require('node:test');
const assert = require('node:assert/strict');
const { loadLogic, parseRequires, classPath } = require('./luci-loader');
const fs = require('node:fs');

const logic = loadLogic();

/* The status reply exactly as docs/ubus-api.md shows it. */
function apiStatus() {
	return {
		version: '0.1.0',
		enabled: true,
		kernel: { supported: true, missing_modules: [], package: 'kmod-nft-offload', message: '' },
		fw4_conflict: { active: false, flow_offloading: false, flow_offloading_hw: false, message: '' },
		zone_attribution: 'ct-label',
		offloaded: { software: 3, hardware: 0, tracked: 57 },
		zones: [
			{
				name: 'lan', mode: 'hardware', effective: 'software',
				reason: 'lan1: no hw-tc-offload',
				l3_devices: [ 'br-lan' ],
				devices: [
					{ name: 'lan1', exists: true, hw_tc_offload: false, flowtable: 'software', reason: 'no hw-tc-offload' }
				],
				offloaded: { software: 3, hardware: 0 }
			}
		],
		flowtables: [
			{ table: 'nftoffload', name: 'ft', hook: 'ingress', priority: 0, flags: [ 'counter' ], devices: [ 'lan1', 'wan' ] }
		],
		last_apply: { ok: true, error: '', duration_us: 812, time: 1764000000 }
	};
}

test('the module header requires only baseclass, as a LuCI class module', () => {
	const src = fs.readFileSync(classPath('nftoffload.logic'), 'utf8');
	assert.deepEqual(parseRequires(src), [ { name: 'baseclass', as: 'baseclass' } ]);
});

test('status: the documented reply maps to one row per firewall zone', () => {
	const s = logic.normalizeStatus(apiStatus());
	const rows = logic.zoneRows(s, [ 'lan', 'wan' ]);

	assert.equal(rows.length, 2);
	assert.deepEqual(rows[0], {
		name: 'lan', known: true, mode: 'hardware', effective: 'software',
		reason: 'lan1: no hw-tc-offload', l3_devices: [ 'br-lan' ], devices: [ 'lan1' ],
		software: 3, hardware: 0, total: 3,
		hwHint: 'Hardware offload not possible: lan1: no hw-tc-offload'
	});
	/* a firewall zone the daemon does not report is shown, as unknown */
	assert.equal(rows[1].name, 'wan');
	assert.equal(rows[1].known, false);
	assert.equal(rows[1].total, 0);
	assert.equal(logic.stateText(rows[0]), 'Software (configured: Hardware)');
	assert.equal(logic.stateText(rows[1]), 'No status from the daemon');
});

test('status: a row whose mode is effective says just the mode', () => {
	const raw = apiStatus();
	raw.zones[0].effective = 'hardware';
	raw.zones[0].reason = '';
	raw.zones[0].devices[0].hw_tc_offload = true;
	const row = logic.zoneRows(logic.normalizeStatus(raw), [ 'lan' ])[0];
	assert.equal(logic.stateText(row), 'Hardware');
	assert.equal(row.hwHint, '');
});

test('status: a reply that is not an object is refused, not rendered', () => {
	for (const bad of [ null, undefined, 4, 'x', [ 1 ] ])
		assert.throws(() => logic.normalizeStatus(bad), /invalid status reply/);
	assert.equal(logic.describeError(new TypeError('invalid status reply')).kind, 'reply');
});

test('status: missing and wrongly typed keys get safe defaults', () => {
	const s = logic.normalizeStatus({ zones: [ { name: 'lan', mode: 'bogus', offloaded: { software: -3, hardware: 'x' }, devices: [ {}, 5 ] }, { mode: 'off' } ] });
	assert.equal(s.enabled, true);
	assert.equal(s.kernel.supported, true);
	assert.equal(s.fw4_conflict.active, false);
	assert.equal(s.last_apply, null);
	assert.equal(s.zones.length, 1, 'a zone without a name is dropped');
	assert.equal(s.zones[0].mode, 'off');
	assert.deepEqual(s.zones[0].offloaded, { software: 0, hardware: 0 });
	assert.deepEqual(s.zones[0].devices, [], 'devices without a name are dropped');
});

test('reason texts: why hardware offload is not possible, per device', () => {
	const z = (devices) => logic.normalizeStatus({ zones: [ { name: 'z', devices } ] }).zones[0];

	assert.equal(logic.hwHint(null), '');
	assert.equal(logic.hwHint(z([])), 'Hardware offload not possible: the zone has no devices.');
	assert.equal(logic.hwHint(z([ { name: 'eth0', exists: true, hw_tc_offload: true } ])), '');
	assert.equal(
		logic.hwHint(z([
			{ name: 'lan1', exists: true, hw_tc_offload: true },
			{ name: 'lan2', exists: true, hw_tc_offload: false },
			{ name: 'wg0', exists: false, hw_tc_offload: null },
			{ name: 'odd', exists: true, hw_tc_offload: null }
		])),
		'Hardware offload not possible: lan2: no hw-tc-offload, wg0: device missing, odd: hw-tc-offload unknown');
});

test('reason texts: kernel support missing names the modules and the package', () => {
	const raw = apiStatus();
	raw.kernel = { supported: false, missing_modules: [ 'nf_flow_table_inet', 'nft_flow_offload' ], package: 'kmod-nft-offload', message: 'flowtable probe: ENOENT' };
	const n = logic.kernelNotice(logic.normalizeStatus(raw));

	assert.match(n.text, /missing modules: nf_flow_table_inet, nft_flow_offload/);
	assert.match(n.install, /opkg install kmod-nft-offload/);
	assert.match(n.install, /apk add kmod-nft-offload/);
	assert.equal(n.detail, 'flowtable probe: ENOENT');
	assert.equal(logic.kernelNotice(logic.normalizeStatus(apiStatus())), null);

	raw.kernel = { supported: false };
	const d = logic.kernelNotice(logic.normalizeStatus(raw));
	assert.match(d.text, /missing modules: unknown/);
	assert.match(d.install, /kmod-nft-offload/, 'falls back to the package named in the design');
});

test('reason texts: the fw4 conflict, and its pending state after the fix', () => {
	const raw = apiStatus();
	assert.equal(logic.conflictState(logic.normalizeStatus(raw), { flow_offloading: '1' }), 'none');

	raw.fw4_conflict = { active: true, flow_offloading: true, flow_offloading_hw: true, message: '' };
	const s = logic.normalizeStatus(raw);
	assert.equal(logic.conflictState(s, { flow_offloading: '1', flow_offloading_hw: '1' }), 'active');
	assert.equal(logic.conflictState(s, { flow_offloading: '1', flow_offloading_hw: '0' }), 'active');
	assert.equal(logic.conflictState(s, { flow_offloading: '0', flow_offloading_hw: '0' }), 'pending');
	assert.equal(logic.conflictState(s, {}), 'pending', 'options removed count as off');
	assert.equal(logic.conflictState(s, null), 'active', 'no defaults section: nothing to fix locally');
	assert.match(logic.conflictText(s), /^Hardware flow offloading is switched on globally/);
	assert.equal(logic.conflictState(null, null), 'none');
});

test('reason texts: last apply result', () => {
	const s = logic.normalizeStatus(apiStatus());
	assert.deepEqual(logic.lastApplyText(s), { ok: true, text: 'Applied successfully in 0.8 ms' });

	const raw = apiStatus();
	raw.last_apply = { ok: false, error: 'netlink: EOPNOTSUPP on flowtable ft', duration_us: 100, time: 1 };
	assert.deepEqual(logic.lastApplyText(logic.normalizeStatus(raw)), { ok: false, text: 'Last apply failed: netlink: EOPNOTSUPP on flowtable ft' });

	raw.last_apply = { ok: false };
	assert.equal(logic.lastApplyText(logic.normalizeStatus(raw)).text, 'Last apply failed: unknown error');

	delete raw.last_apply;
	assert.deepEqual(logic.lastApplyText(logic.normalizeStatus(raw)), { ok: null, text: 'Not applied yet' });
	assert.equal(logic.totalsText(s), '3 software, 0 hardware, out of 57 tracked connections');
});

test('errors: a failed rpc call becomes a sentence, never a stack trace', () => {
	const cases = [
		[ 'RPC call to nftoffload/status failed with error -32000: Object not found', 'down' ],
		[ 'RPC call to nftoffload/status failed with error -32002: Access denied', 'acl' ],
		[ 'RPC call to nftoffload/flows failed with error -32601: Method not found', 'version' ],
		[ 'RPC call to nftoffload/status failed with ubus code 7: Request timeout', 'timeout' ],
		[ 'RPC call to nftoffload/status failed with ubus code 9: Unspecified error', 'status' ],
		[ 'XHR request aborted by browser', 'network' ],
		[ 'something else', 'other' ]
	];

	for (const [ msg, kind ] of cases) {
		const e = new Error(msg);
		e.stack = 'Error: ' + msg + '\n    at secret (/www/luci-static/resources/rpc.js:1:1)';
		const d = logic.describeError(e);
		assert.equal(d.kind, kind, msg);
		assert.doesNotMatch(d.text, /\bat secret\b|rpc\.js/, 'no stack frames in the message');
	}

	assert.match(logic.describeError(new Error('failed with error -32000: Object not found')).text, /daemon is not running/);
	assert.match(logic.describeError(new Error('x ubus code 9: y')).text, /ubus status 9/);
	assert.equal(logic.describeError('plain string').kind, 'other');
	assert.equal(logic.describeError(undefined).kind, 'other');
});

test('human units: bytes', () => {
	const cases = [
		[ 0, '0 B' ], [ 1, '1 B' ], [ 1023, '1023 B' ],
		[ 1024, '1.00 KiB' ], [ 1536, '1.50 KiB' ], [ 123456, '121 KiB' ],
		[ 10 * 1024, '10.0 KiB' ], [ 1048575, '1.00 MiB' ], [ 1048576, '1.00 MiB' ],
		[ 5 * 1024 ** 3, '5.00 GiB' ], [ 2 ** 50, '1.00 PiB' ], [ 2 ** 70, '1024 EiB' ]
	];

	for (const [ n, want ] of cases)
		assert.equal(logic.formatBytes(n), want, String(n));

	for (const bad of [ -1, NaN, Infinity, null, undefined, '12' ])
		assert.equal(logic.formatBytes(bad), '-', String(bad));

	assert.equal(logic.formatCount(99.7), '99');
	assert.equal(logic.formatCount(-1), '-');
});

test('flows: the documented reply maps to table rows', () => {
	const rows = logic.flowRows([
		{ proto: 'tcp', src: '192.168.1.10', sport: 40000, dst: '10.0.0.2', dport: 5201, bytes: 123456, packets: 99, offload: 'software', zones: [ 'lan', 'wan' ] },
		{ proto: 'udp', src: '2001:db8::1', sport: 53, dst: 'fd00::2', dport: 5353, bytes: 5 * 1024 ** 3, packets: 7, offload: 'hardware', zones: [] },
		'garbage',
		{}
	]);

	assert.deepEqual(rows[0], {
		proto: 'TCP', tuple: '192.168.1.10:40000 → 10.0.0.2:5201', zones: 'lan → wan',
		bytes: '121 KiB', packets: '99', path: 'SW'
	});
	assert.equal(rows[1].tuple, '[2001:db8::1]:53 → [fd00::2]:5353');
	assert.equal(rows[1].path, 'HW');
	assert.equal(rows[1].bytes, '5.00 GiB');
	assert.equal(rows.length, 3, 'non-objects are dropped');
	assert.deepEqual(rows[2], { proto: '?', tuple: '? → ?', zones: '', bytes: '-', packets: '-', path: '?' });
	assert.deepEqual(logic.flowRows(undefined), []);
});

test('zone sections: one row per firewall zone, missing ones to create', () => {
	const fw = [ { '.name': 'cfg01', name: 'lan' }, { '.name': 'cfg02', name: 'wan' }, { '.name': 'cfg03' }, { '.name': 'cfg04', name: 'lan' }, { '.name': 'cfg05', name: 'guest' } ];
	const off = [
		{ '.name': 'cfgA', name: 'wan', mode: 'software' },
		{ '.name': 'cfgB', name: 'gone', mode: 'hardware' },
		{ '.name': 'cfgC', name: 'wan', mode: 'off' },
		{ '.name': 'cfgD', mode: 'off' }
	];
	const plan = logic.planZoneSections(fw, off);

	assert.deepEqual(plan.rows, [ { zone: 'lan', sid: null }, { zone: 'wan', sid: 'cfgA' }, { zone: 'guest', sid: null } ]);
	assert.deepEqual(plan.missing, [ 'lan', 'guest' ]);
	/* duplicates and zones the firewall no longer has get no row */
	assert.deepEqual(logic.rowSectionIds(fw, off), [ 'cfgA' ]);
	assert.deepEqual(logic.planZoneSections(undefined, undefined), { rows: [], missing: [] });
});

test('sparkline: empty, one point, all zero, bounds', () => {
	const W = 120, H = 24, CAP = 60;

	assert.deepEqual(logic.sparklinePoints([], W, H, CAP), []);
	assert.deepEqual(logic.sparklinePoints(undefined, W, H, CAP), []);

	/* one sample: a flat line across the whole width at the bottom-most
	 * non-zero level (it is its own maximum, so at the top) */
	assert.deepEqual(logic.sparklinePoints([ 5 ], W, H, CAP), [ [ 0, 1 ], [ W, 1 ] ]);
	assert.deepEqual(logic.sparklinePoints([ 0 ], W, H, CAP), [ [ 0, H - 1 ], [ W, H - 1 ] ]);

	const zero = logic.sparklinePoints([ 0, 0, 0 ], W, H, CAP);
	assert.equal(zero.length, 3);
	assert.ok(zero.every((p) => p[1] === H - 1), 'all zero sits on the baseline');

	/* newest sample at the right edge, spaced by width/(capacity-1) */
	const pts = logic.sparklinePoints([ 0, 10, 5 ], W, H, CAP);
	assert.deepEqual(pts.map((p) => p[0]), [ +(W - 2 * W / 59).toFixed(2), +(W - W / 59).toFixed(2), W ]);
	assert.deepEqual(pts.map((p) => p[1]), [ H - 1, 1, 12 ]);

	/* a full and overfull series spans exactly 0..W and never leaves the box */
	const long = Array.from({ length: 200 }, (_, i) => (i * 7919) % 101);
	long[150] = -5; long[151] = NaN; long[152] = Infinity; long[153] = 'x';
	const full = logic.sparklinePoints(long, W, H, CAP);
	assert.equal(full.length, CAP, 'only the last capacity samples');
	assert.equal(full[0][0], 0);
	assert.equal(full[CAP - 1][0], W);
	for (const [ x, y ] of full) {
		assert.ok(x >= 0 && x <= W, 'x in bounds: ' + x);
		assert.ok(y >= 0 && y <= H, 'y in bounds: ' + y);
	}
	assert.equal(Math.min(...full.map((p) => p[1])), 1, 'the maximum touches the top padding');

	assert.equal(logic.pointsAttr([ [ 0, 1 ], [ 2.5, 3 ] ]), '0,1 2.5,3');
});

test('sparkline: SVG markup carries only numbers and scales by CSS', () => {
	const svg = logic.sparklineSVG([ 1, 2, 3 ]);
	assert.match(svg, /^<svg [^>]*viewBox="0 0 120 24"[^>]*>/);
	assert.match(svg, /<polyline [^>]*points="[0-9., ]+"\/><\/svg>$/);
	assert.doesNotMatch(svg, /\swidth="\d/, 'no fixed pixel width');
	assert.equal(logic.sparklineSVG([]), logic.sparklineSVG(undefined));
	assert.doesNotMatch(logic.sparklineSVG([]), /polyline/);
});

test('history: bounded per zone', () => {
	const h = {};
	for (let i = 0; i < 70; i++)
		logic.pushHistory(h, 'lan', i, 60);
	logic.pushHistory(h, 'wan', -1, 60);
	logic.pushHistory(h, 'wan', NaN, 60);

	assert.equal(h.lan.length, 60);
	assert.equal(h.lan[0], 10);
	assert.equal(h.lan[59], 69);
	assert.deepEqual(h.wan, [ 0, 0 ]);
});

test('mode labels and translation go through _()', () => {
	const t = loadLogic((s) => '«' + s + '»');
	assert.equal(t.modeLabel('software'), '«Software»');
	assert.equal(t.modeLabel('weird'), 'weird');
	assert.equal(t.subst('%s and %s', [ 'a' ]), 'a and ');
	assert.deepEqual(logic.MODES, [ 'off', 'software', 'hardware' ]);
});
