'use strict';
'require baseclass';

/*
 * Pure logic of the Flow Offloading page: turning the ubus replies of the
 * daemon (docs/ubus-api.md) into what the page shows. Nothing in here
 * touches the DOM, UCI or the network, so the node tests can load this
 * file with a small shim for baseclass and the translation function.
 *
 * The view requires it as nftoffload.logic (the path of this file below
 * luci-static/resources), and LuCI hands it an instance of the class
 * returned at the end.
 *
 * Keep quote characters out of this header comment: the LuCI loader reads
 * every quoted string from the top of the file as a possible require.
 */

var MODES = [ 'off', 'software', 'hardware' ];

/* Sparkline geometry: 60 samples at the 5 s poll interval = 5 minutes. */
var SPARK_CAPACITY = 60;
var SPARK_WIDTH = 120;
var SPARK_HEIGHT = 24;
var SPARK_PAD = 1;

var BYTE_UNITS = [ 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB' ];

function isObject(v) {
	return v != null && typeof(v) == 'object' && !Array.isArray(v);
}

function asString(v) {
	return (typeof(v) == 'string') ? v : '';
}

function asCount(v) {
	return (typeof(v) == 'number' && isFinite(v) && v > 0) ? Math.floor(v) : 0;
}

function asStringList(v) {
	return Array.isArray(v) ? v.filter(function(s) { return typeof(s) == 'string' && s != ''; }) : [];
}

/* '%s' substitution in order; the view may use LuCI's String.format, but
 * this module must run without LuCI's prototype extensions. */
function subst(template, args) {
	var i = 0;
	return String(template).replace(/%s/g, function() {
		var v = args[i++];
		return (v == null) ? '' : String(v);
	});
}

function modeOf(v) {
	return (MODES.indexOf(v) >= 0) ? v : null;
}

function normalizeDevice(raw) {
	var d = isObject(raw) ? raw : {};
	var hw = d.hw_tc_offload;

	return {
		name: asString(d.name),
		exists: d.exists !== false,
		hw_tc_offload: (hw === true || hw === false) ? hw : null,
		flowtable: ([ 'software', 'hardware', 'none' ].indexOf(d.flowtable) >= 0) ? d.flowtable : 'none',
		reason: asString(d.reason)
	};
}

function normalizeZone(raw) {
	var z = isObject(raw) ? raw : {};
	var off = isObject(z.offloaded) ? z.offloaded : {};

	return {
		name: asString(z.name),
		mode: modeOf(z.mode) || 'off',
		effective: modeOf(z.effective) || 'off',
		reason: asString(z.reason),
		l3_devices: asStringList(z.l3_devices),
		devices: Array.isArray(z.devices) ? z.devices.map(normalizeDevice).filter(function(d) { return d.name != ''; }) : [],
		offloaded: { software: asCount(off.software), hardware: asCount(off.hardware) }
	};
}

return baseclass.extend({
	MODES: MODES,
	SPARK_CAPACITY: SPARK_CAPACITY,
	SPARK_WIDTH: SPARK_WIDTH,
	SPARK_HEIGHT: SPARK_HEIGHT,

	subst: subst,

	/*
	 * Validate and default a `status` reply. Throws on a reply that is not
	 * an object (e.g. a bare ubus status code), so the caller can show a
	 * message instead of rendering garbage.
	 */
	normalizeStatus: function(raw) {
		if (!isObject(raw))
			throw new TypeError('invalid status reply');

		var k = isObject(raw.kernel) ? raw.kernel : {};
		var c = isObject(raw.fw4_conflict) ? raw.fw4_conflict : {};
		var o = isObject(raw.offloaded) ? raw.offloaded : {};
		var la = isObject(raw.last_apply) ? raw.last_apply : null;

		return {
			version: asString(raw.version),
			enabled: raw.enabled !== false,
			kernel: {
				supported: k.supported !== false,
				missing_modules: asStringList(k.missing_modules),
				package: asString(k.package),
				message: asString(k.message)
			},
			fw4_conflict: {
				active: c.active === true,
				flow_offloading: c.flow_offloading === true,
				flow_offloading_hw: c.flow_offloading_hw === true,
				message: asString(c.message)
			},
			zone_attribution: asString(raw.zone_attribution),
			offloaded: {
				software: asCount(o.software),
				hardware: asCount(o.hardware),
				tracked: asCount(o.tracked)
			},
			zones: Array.isArray(raw.zones) ? raw.zones.map(normalizeZone).filter(function(z) { return z.name != ''; }) : [],
			flowtables: Array.isArray(raw.flowtables) ? raw.flowtables.filter(isObject) : [],
			last_apply: la ? {
				ok: la.ok === true,
				error: asString(la.error),
				duration_us: asCount(la.duration_us),
				time: asCount(la.time)
			} : null
		};
	},

	/* The status object of one zone, or null. */
	findZone: function(status, name) {
		if (!status || !Array.isArray(status.zones))
			return null;

		for (var i = 0; i < status.zones.length; i++)
			if (status.zones[i].name == name)
				return status.zones[i];

		return null;
	},

	/*
	 * Why hardware offload is not possible in a zone, as one sentence, or ''
	 * when every flowtable device reports hw-tc-offload.
	 */
	hwHint: function(zone) {
		if (!zone)
			return '';

		if (!zone.devices.length)
			return _('Hardware offload not possible: the zone has no devices.');

		var why = [];

		for (var i = 0; i < zone.devices.length; i++) {
			var d = zone.devices[i];

			if (!d.exists)
				why.push(subst(_('%s: device missing'), [ d.name ]));
			else if (d.hw_tc_offload === false)
				why.push(subst(_('%s: no hw-tc-offload'), [ d.name ]));
			else if (d.hw_tc_offload !== true)
				why.push(subst(_('%s: hw-tc-offload unknown'), [ d.name ]));
		}

		return why.length ? subst(_('Hardware offload not possible: %s'), [ why.join(', ') ]) : '';
	},

	modeLabel: function(mode) {
		switch (mode) {
		case 'off': return _('Off');
		case 'software': return _('Software');
		case 'hardware': return _('Hardware');
		default: return String(mode || '-');
		}
	},

	/*
	 * One row per firewall zone name, in the given order, merged with the
	 * daemon's status (null when the daemon could not be asked).
	 */
	zoneRows: function(status, zoneNames) {
		var rows = [];

		for (var i = 0; i < zoneNames.length; i++) {
			var z = this.findZone(status, zoneNames[i]);

			rows.push({
				name: zoneNames[i],
				known: z != null,
				mode: z ? z.mode : null,
				effective: z ? z.effective : null,
				reason: z ? z.reason : '',
				l3_devices: z ? z.l3_devices : [],
				devices: z ? z.devices.map(function(d) { return d.name; }) : [],
				software: z ? z.offloaded.software : 0,
				hardware: z ? z.offloaded.hardware : 0,
				total: z ? z.offloaded.software + z.offloaded.hardware : 0,
				hwHint: this.hwHint(z)
			});
		}

		return rows;
	},

	/* What the "effective" column says about a row. */
	stateText: function(row) {
		if (!row || !row.known)
			return _('No status from the daemon');

		if (row.mode == row.effective)
			return this.modeLabel(row.effective);

		return subst(_('%s (configured: %s)'), [ this.modeLabel(row.effective), this.modeLabel(row.mode) ]);
	},

	kernelNotice: function(status) {
		if (!status || status.kernel.supported)
			return null;

		var pkg = status.kernel.package || 'kmod-nft-offload';
		var missing = status.kernel.missing_modules.length ? status.kernel.missing_modules.join(', ') : _('unknown');

		return {
			text: subst(_('The kernel lacks flow offloading support (missing modules: %s).'), [ missing ]),
			install: subst(_('Install the package %s: "opkg install %s" on OpenWrt 24.10, "apk add %s" on 25.12 and later.'), [ pkg, pkg, pkg ]),
			detail: status.kernel.message
		};
	},

	/*
	 * State of the fw4 global offload conflict. `fwDefaults` is the local
	 * (possibly edited, not yet applied) firewall defaults section, so a
	 * click on "turn it off" shows as pending until Save & Apply.
	 */
	conflictState: function(status, fwDefaults) {
		if (!status || !status.fw4_conflict.active)
			return 'none';

		if (!isObject(fwDefaults))
			return 'active';

		if (fwDefaults.flow_offloading != '1' && fwDefaults.flow_offloading_hw != '1')
			return 'pending';

		return 'active';
	},

	conflictText: function(status) {
		var which = (status && status.fw4_conflict.flow_offloading_hw)
			? _('Hardware flow offloading') : _('Software flow offloading');

		return subst(_('%s is switched on globally in the firewall settings (Network → Firewall → Routing/NAT Offloading). The firewall\'s own rule offloads every forwarded connection before the per-zone rules see it, so the zone modes below have no effect until the global switch is off.'), [ which ]);
	},

	lastApplyText: function(status) {
		var la = status ? status.last_apply : null;

		if (!la)
			return { ok: null, text: _('Not applied yet') };

		if (la.ok)
			return { ok: true, text: subst(_('Applied successfully in %s ms'), [ (la.duration_us / 1000).toFixed(1) ]) };

		return { ok: false, text: subst(_('Last apply failed: %s'), [ la.error || _('unknown error') ]) };
	},

	totalsText: function(status) {
		var o = status.offloaded;

		return subst(_('%s software, %s hardware, out of %s tracked connections'),
			[ o.software, o.hardware, o.tracked ]);
	},

	/*
	 * Plan the nftoffload `zone` sections: the first section per firewall
	 * zone name is that zone's row; zones without one must be created.
	 * `fwZones` and `offSections` are uci.sections() arrays.
	 */
	planZoneSections: function(fwZones, offSections) {
		var names = [], seen = {}, byName = {}, rows = [], missing = [];

		(fwZones || []).forEach(function(s) {
			var n = asString(s.name);
			if (n != '' && !seen[n]) {
				seen[n] = true;
				names.push(n);
			}
		});

		(offSections || []).forEach(function(s) {
			var n = asString(s.name);
			if (n != '' && !byName.hasOwnProperty(n))
				byName[n] = s['.name'];
		});

		names.forEach(function(n) {
			var sid = byName.hasOwnProperty(n) ? byName[n] : null;
			rows.push({ zone: n, sid: sid });
			if (sid == null)
				missing.push(n);
		});

		return { rows: rows, missing: missing };
	},

	/* Section IDs that get a row in the zone grid. */
	rowSectionIds: function(fwZones, offSections) {
		return this.planZoneSections(fwZones, offSections).rows
			.filter(function(r) { return r.sid != null; })
			.map(function(r) { return r.sid; });
	},

	formatBytes: function(n) {
		if (typeof(n) != 'number' || !isFinite(n) || n < 0)
			return '-';

		if (n < 1024)
			return Math.floor(n) + ' B';

		var i = -1, v = n, s;

		do {
			v /= 1024;
			i++;
		} while (v >= 1024 && i < BYTE_UNITS.length - 1);

		s = v.toFixed(v < 10 ? 2 : (v < 100 ? 1 : 0));

		/* 1023.999 KiB must read 1.00 MiB, not 1024 KiB */
		if (+s >= 1024 && i < BYTE_UNITS.length - 1) {
			v /= 1024;
			i++;
			s = v.toFixed(2);
		}

		return s + ' ' + BYTE_UNITS[i];
	},

	formatCount: function(n) {
		return (typeof(n) == 'number' && isFinite(n) && n >= 0) ? String(Math.floor(n)) : '-';
	},

	/* One table row of the `flows` reply. */
	flowRows: function(flows) {
		var self = this;

		function endpoint(addr, port) {
			var a = asString(addr) || '?';
			if (a.indexOf(':') >= 0)
				a = '[' + a + ']';
			return (typeof(port) == 'number') ? a + ':' + port : a;
		}

		return (Array.isArray(flows) ? flows : []).filter(isObject).map(function(f) {
			return {
				proto: asString(f.proto).toUpperCase() || '?',
				tuple: endpoint(f.src, f.sport) + ' → ' + endpoint(f.dst, f.dport),
				zones: asStringList(f.zones).join(' → '),
				bytes: self.formatBytes(f.bytes),
				packets: self.formatCount(f.packets),
				path: (f.offload == 'hardware') ? 'HW' : ((f.offload == 'software') ? 'SW' : '?')
			};
		});
	},

	/* Append a sample to a bounded per-key history; returns the series. */
	pushHistory: function(history, key, value, capacity) {
		var cap = capacity || SPARK_CAPACITY;
		var h = history[key] || (history[key] = []);

		h.push((typeof(value) == 'number' && isFinite(value) && value > 0) ? value : 0);

		while (h.length > cap)
			h.shift();

		return h;
	},

	/*
	 * Polyline points of a sparkline, newest sample at the right edge, the
	 * y axis from 0 (bottom) to the series maximum (top). An empty series
	 * gives no points; a single sample gives a flat line over the width.
	 */
	sparklinePoints: function(series, width, height, capacity) {
		var w = width || SPARK_WIDTH, h = height || SPARK_HEIGHT, cap = capacity || SPARK_CAPACITY;
		var vals = (Array.isArray(series) ? series : []).slice(-cap).map(function(v) {
			return (typeof(v) == 'number' && isFinite(v) && v > 0) ? v : 0;
		});

		if (!vals.length)
			return [];

		var max = Math.max.apply(null, vals);
		var bottom = h - SPARK_PAD, span = h - 2 * SPARK_PAD;

		function y(v) {
			return +(max > 0 ? bottom - (v / max) * span : bottom).toFixed(2);
		}

		if (vals.length == 1)
			return [ [ 0, y(vals[0]) ], [ w, y(vals[0]) ] ];

		var step = (cap > 1) ? w / (cap - 1) : w;

		return vals.map(function(v, i) {
			return [ +(w - (vals.length - 1 - i) * step).toFixed(2), y(v) ];
		});
	},

	pointsAttr: function(points) {
		return points.map(function(p) { return p[0] + ',' + p[1]; }).join(' ');
	},

	/*
	 * SVG markup for a series; only numbers are interpolated. Sized by CSS
	 * (no fixed width) so it shrinks on narrow screens.
	 */
	sparklineSVG: function(series) {
		var pts = this.sparklinePoints(series, SPARK_WIDTH, SPARK_HEIGHT, SPARK_CAPACITY);

		return '<svg class="nftoffload-spark" viewBox="0 0 ' + SPARK_WIDTH + ' ' + SPARK_HEIGHT + '" ' +
			'preserveAspectRatio="none" style="display:block;width:100%;max-width:10em;height:1.5em" aria-hidden="true">' +
			(pts.length ? '<polyline fill="none" stroke="currentColor" stroke-width="1.5" ' +
				'vector-effect="non-scaling-stroke" points="' + this.pointsAttr(pts) + '"/>' : '') +
			'</svg>';
	},

	/*
	 * A user-facing sentence for a failed daemon call (a rejected rpc
	 * promise); never a stack trace.
	 */
	describeError: function(err) {
		var msg = (err && err.message != null) ? String(err.message) : String(err);
		var m;

		if (/-32000\b|Object not found/i.test(msg))
			return { kind: 'down', text: _('The nftoffload daemon is not running: its ubus object "nftoffload" is not registered. Start it with "/etc/init.d/nftoffload start" and look at "logread -e nftoffload".') };

		if (/-32002\b|Access denied|Permission denied/i.test(msg))
			return { kind: 'acl', text: _('Access to the nftoffload ubus object was denied. Reinstall luci-app-nftoffload and log in again.') };

		if (/-32601\b|Method not found/i.test(msg))
			return { kind: 'version', text: _('The running nftoffload daemon does not offer this call; it may be a different version than this page.') };

		if (/-32003\b|timed out|timeout/i.test(msg))
			return { kind: 'timeout', text: _('The nftoffload daemon did not answer in time.') };

		if ((m = /ubus code (\d+)/.exec(msg)) != null)
			return { kind: 'status', text: subst(_('The nftoffload daemon answered with an error (ubus status %s).'), [ m[1] ]) };

		if (/invalid status reply|invalid message frame/i.test(msg))
			return { kind: 'reply', text: _('The nftoffload daemon sent a reply this page does not understand.') };

		if (/XHR request aborted|NetworkError|HTTP error/i.test(msg))
			return { kind: 'network', text: _('The router could not be reached.') };

		return { kind: 'other', text: subst(_('Calling the nftoffload daemon failed: %s'), [ msg ]) };
	}
});
