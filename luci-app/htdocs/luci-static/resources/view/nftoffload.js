'use strict';
'require view';
'require form';
'require rpc';
'require uci';
'require ui';
'require poll';
'require dom';
'require nftoffload.logic as logic';

/*
 * Network → Flow Offloading: the mode of each zone is saved through UCI,
 * so the Save and Apply of LuCI with its rollback protects a hardware
 * toggle that cuts the link; the live state comes from the nftoffload
 * daemon over ubus. (No quote characters in this header comment: the LuCI
 * loader reads every quoted string from the top as a possible require.)
 */

var FLOWS_LIMIT = 20;
var POLL_SECONDS = 5;

var callStatus = rpc.declare({
	object: 'nftoffload',
	method: 'status',
	reject: true
});

var callFlows = rpc.declare({
	object: 'nftoffload',
	method: 'flows',
	params: [ 'limit' ],
	expect: { flows: [] },
	reject: true
});

/* Turn a promise into { ok, value } / { ok: false, error } so that one
 * failed call (daemon down, ACL, timeout) never rejects the whole page. */
function settle(promise) {
	return Promise.resolve(promise).then(function(value) {
		return { ok: true, value: value };
	}, function(error) {
		return { ok: false, error: error };
	});
}

/* dom.append() turns a null array member into the text "null". */
function compact(list) {
	return list.filter(function(n) { return n != null && n !== ''; });
}

function alertBox(cls, children) {
	return E('div', { 'class': 'alert-message ' + cls }, compact(children));
}

function keyValueRow(key, value) {
	return E('tr', { 'class': 'tr' }, [
		E('td', { 'class': 'td left' }, [ E('strong', {}, [ key ]) ]),
		E('td', { 'class': 'td left' }, compact(Array.isArray(value) ? value : [ value ]))
	]);
}

return view.extend({
	load: function() {
		return Promise.all([
			settle(uci.load([ 'nftoffload', 'firewall' ])),
			settle(callStatus()),
			settle(callFlows(FLOWS_LIMIT))
		]);
	},

	/* --- data ----------------------------------------------------------- */

	takeStatus: function(res) {
		this.status = null;
		this.statusError = null;

		if (!res.ok) {
			this.statusError = logic.describeError(res.error);
			return;
		}

		try {
			this.status = logic.normalizeStatus(res.value);
		}
		catch (e) {
			this.statusError = logic.describeError(e);
			return;
		}

		this.status.zones.forEach(function(z) {
			logic.pushHistory(this.history, z.name, z.offloaded.software + z.offloaded.hardware);
		}, this);
	},

	takeFlows: function(res) {
		this.flows = res.ok ? res.value : null;
		this.flowsError = res.ok ? null : logic.describeError(res.error);
	},

	zoneName: function(section_id) {
		return uci.get('nftoffload', section_id, 'name') || '';
	},

	fwDefaultsSid: function() {
		var d = uci.sections('firewall', 'defaults');
		return d.length ? d[0]['.name'] : null;
	},

	/* The option values as edited on this page (uci.get of a whole section
	 * would return the loaded values without local changes). */
	fwDefaultsLocal: function() {
		var sid = this.fwDefaultsSid();

		return sid ? {
			flow_offloading: uci.get('firewall', sid, 'flow_offloading'),
			flow_offloading_hw: uci.get('firewall', sid, 'flow_offloading_hw')
		} : null;
	},

	fwZoneNetworks: function(name) {
		var zones = uci.sections('firewall', 'zone');

		for (var i = 0; i < zones.length; i++)
			if (zones[i].name == name)
				return L.toArray(zones[i].network).concat(L.toArray(zones[i].device));

		return [];
	},

	/* Every firewall zone gets a row: zones without a `zone` section in
	 * /etc/config/nftoffload get one here, locally; it is written to the
	 * router only by Save / Save & Apply. */
	ensureZoneSections: function() {
		var plan = logic.planZoneSections(uci.sections('firewall', 'zone'), uci.sections('nftoffload', 'zone'));

		plan.missing.forEach(function(name) {
			var sid = uci.add('nftoffload', 'zone');
			uci.set('nftoffload', sid, 'name', name);
		});
	},

	/* --- zone grid cells (re-filled on every poll) ---------------------- */

	cell: function(kind, name) {
		var el = E('div', { 'data-nftoffload-cell': kind, 'data-zone': name });
		this.fillCell(el, kind, name);
		return el;
	},

	fillCell: function(el, kind, name) {
		var row = logic.zoneRows(this.status, [ name ])[0];
		var nodes;

		switch (kind) {
		case 'devices':
			nodes = this.renderDevices(row);
			break;

		case 'state':
			nodes = [
				E('span', {}, [ logic.stateText(row) ]),
				(row.known && row.reason != '') ? E('div', { 'class': 'cbi-value-description' }, [ row.reason ]) : null
			];
			break;

		case 'offloaded':
			nodes = this.renderOffloaded(row);
			break;

		default:
			nodes = [];
		}

		dom.content(el, compact(nodes));
	},

	renderDevices: function(row) {
		if (!row.known) {
			var nets = this.fwZoneNetworks(row.name);
			return [ E('span', {}, [ nets.length ? logic.subst(_('Networks: %s'), [ nets.join(', ') ]) : '-' ]) ];
		}

		var l3 = row.l3_devices.join(', '), ft = row.devices.join(', ');

		return [
			E('span', {}, [ l3 || ft || _('none') ]),
			(ft != '' && ft != l3) ? E('div', { 'class': 'cbi-value-description' }, [ logic.subst(_('Flow table devices: %s'), [ ft ]) ]) : null,
			(row.hwHint != '') ? E('div', { 'class': 'cbi-value-description' }, [ row.hwHint ]) : null
		];
	},

	renderOffloaded: function(row) {
		if (!row.known)
			return [ E('span', {}, [ '-' ]) ];

		if (this.status.zone_attribution == 'unavailable')
			return [ E('em', {}, [ _('not attributable') ]) ];

		return [
			E('span', { 'class': 'nowrap' }, [ logic.subst(_('SW %s · HW %s'), [ row.software, row.hardware ]) ]),
			E(logic.sparklineSVG(this.history[row.name] || []))
		];
	},

	/* --- status panel --------------------------------------------------- */

	renderStatusPanel: function() {
		var s = this.status, nodes = [];

		if (!s) {
			nodes.push(alertBox('error', [
				E('strong', {}, [ _('Live status unavailable') ]), E('br'),
				this.statusError ? this.statusError.text : _('No status yet.'), E('br'),
				_('Zone modes can still be changed and saved below.')
			]));

			return nodes;
		}

		if (!s.enabled)
			nodes.push(alertBox('warning', [ _('Flow offloading is disabled in the global settings of /etc/config/nftoffload; no zone is offloaded.') ]));

		var kn = logic.kernelNotice(s);

		if (kn)
			nodes.push(alertBox('warning', [
				E('strong', {}, [ kn.text ]), E('br'),
				kn.install,
				kn.detail ? E('div', {}, [ E('small', {}, [ kn.detail ]) ]) : null
			]));

		var cs = logic.conflictState(s, this.fwDefaultsLocal());

		if (cs == 'active')
			nodes.push(alertBox('warning', [
				E('strong', {}, [ _('Global flow offloading conflicts with the zone settings') ]), E('br'),
				logic.conflictText(s), E('br'),
				(this.map && this.map.readonly) ? null : E('button', {
					'class': 'cbi-button cbi-button-negative',
					'click': ui.createHandlerFn(this, 'handleDisableGlobal')
				}, [ _('Turn off global offloading…') ])
			]));
		else if (cs == 'pending')
			nodes.push(alertBox('notice', [
				_('Global flow offloading will be turned off when you press "Save & Apply".')
			]));

		var la = logic.lastApplyText(s), when = '';

		if (s.last_apply && s.last_apply.time > 0)
			when = ' (' + new Date(s.last_apply.time * 1000).toLocaleString() + ')';

		if (la.ok === false)
			nodes.push(alertBox('error', [ la.text + when ]));

		nodes.push(E('table', { 'class': 'table' }, compact([
			keyValueRow(_('Daemon version'), s.version || '-'),
			keyValueRow(_('Offloaded connections'), logic.totalsText(s)),
			(la.ok === false) ? null : keyValueRow(_('Last apply'), la.text + when)
		])));

		if (s.zone_attribution == 'unavailable')
			nodes.push(E('p', { 'class': 'cbi-section-descr' }, [
				_('The kernel has no conntrack labels, so offloaded connections cannot be counted per zone; only the totals are shown.')
			]));

		return nodes;
	},

	handleDisableGlobal: function(ev) {
		ui.showModal(_('Turn off global flow offloading?'), [
			E('p', {}, [ _('This sets flow_offloading and flow_offloading_hw to 0 in the firewall defaults. Connections are then offloaded only in the zones set to "Software" or "Hardware" on this page.') ]),
			E('p', {}, [ _('Nothing changes until you press "Save & Apply"; LuCI rolls the change back if the router becomes unreachable.') ]),
			E('div', { 'class': 'right' }, [
				E('button', { 'class': 'cbi-button', 'click': ui.hideModal }, [ _('Cancel') ]), ' ',
				E('button', {
					'class': 'cbi-button cbi-button-negative important',
					'click': ui.createHandlerFn(this, 'confirmDisableGlobal')
				}, [ _('Turn off') ])
			])
		]);
	},

	confirmDisableGlobal: function(ev) {
		var sid = this.fwDefaultsSid();

		ui.hideModal();

		if (!sid) {
			ui.addNotification(null, E('p', {}, [ _('The firewall configuration has no "defaults" section to change.') ]), 'error');
			return;
		}

		uci.set('firewall', sid, 'flow_offloading', '0');
		uci.set('firewall', sid, 'flow_offloading_hw', '0');

		this.redrawStatus();
	},

	redrawStatus: function() {
		if (this.statusNode)
			dom.content(this.statusNode, this.renderStatusPanel());
	},

	/* --- top flows ------------------------------------------------------ */

	renderFlows: function() {
		if (this.flowsError)
			return [ E('p', {}, [ E('em', {}, [ logic.subst(_('Not available: %s'), [ this.flowsError.text ]) ]) ]) ];

		var cols = [ _('Protocol'), _('Connection'), _('Zones'), _('Bytes'), _('Packets'), _('Path') ];
		var rows = logic.flowRows(this.flows);
		var table = E('table', { 'class': 'table' }, [
			E('tr', { 'class': 'tr table-titles' }, cols.map(function(c) {
				return E('th', { 'class': 'th' }, [ c ]);
			}))
		]);

		if (!rows.length)
			table.appendChild(E('tr', { 'class': 'tr placeholder' }, [
				E('td', { 'class': 'td' }, [ E('em', {}, [ _('No offloaded connections right now.') ]) ])
			]));

		rows.forEach(function(r) {
			var vals = [ r.proto, r.tuple, r.zones || '-', r.bytes, r.packets, r.path ];

			table.appendChild(E('tr', { 'class': 'tr' }, vals.map(function(v, i) {
				return E('td', { 'class': 'td', 'data-title': cols[i] }, [ v ]);
			})));
		});

		return [ table ];
	},

	/* --- polling -------------------------------------------------------- */

	refresh: function() {
		return Promise.all([
			settle(callStatus()),
			settle(callFlows(FLOWS_LIMIT))
		]).then(L.bind(function(res) {
			this.takeStatus(res[0]);
			this.takeFlows(res[1]);
			this.redraw();
		}, this)).catch(function(e) {
			/* a drawing bug must not stop the poll loop or blank the page */
			if (window.console)
				window.console.error(e);
		});
	},

	redraw: function() {
		this.redrawStatus();

		if (this.root)
			this.root.querySelectorAll('[data-nftoffload-cell]').forEach(function(el) {
				this.fillCell(el, el.getAttribute('data-nftoffload-cell'), el.getAttribute('data-zone'));
			}, this);

		if (this.flowsNode)
			dom.content(this.flowsNode, this.renderFlows());
	},

	/* --- page ----------------------------------------------------------- */

	render: function(data) {
		this.history = {};
		this.takeStatus(data[1]);
		this.takeFlows(data[2]);

		if (!data[0].ok)
			return alertBox('error', [
				_('The configuration could not be loaded.'), E('br'),
				logic.describeError(data[0].error).text
			]);

		this.ensureZoneSections();

		var self = this, m, s, o;

		/* The page title is rendered by the view, above the live status, so
		 * the map itself has none. */
		m = new form.Map('nftoffload');
		m.chain('firewall');
		this.map = m;

		s = m.section(form.GridSection, 'zone', _('Zones'));
		s.anonymous = true;
		s.addremove = false;
		s.nodescriptions = true;
		s.filter = function(section_id) {
			return logic.rowSectionIds(uci.sections('firewall', 'zone'),
				uci.sections('nftoffload', 'zone')).indexOf(section_id) >= 0;
		};
		s.modaltitle = function(section_id) {
			return logic.subst(_('Zone %s'), [ self.zoneName(section_id) ]);
		};

		o = s.option(form.DummyValue, '_zone', _('Zone'));
		o.modalonly = false;
		o.textvalue = function(section_id) {
			return E('strong', {}, [ self.zoneName(section_id) || '-' ]);
		};

		o = s.option(form.DummyValue, '_devices', _('Devices'));
		o.modalonly = false;
		o.textvalue = function(section_id) {
			return self.cell('devices', self.zoneName(section_id));
		};

		o = s.option(form.ListValue, 'mode', _('Mode'));
		logic.MODES.forEach(function(mode) {
			o.value(mode, logic.modeLabel(mode));
		});
		o.default = 'off';
		o.rmempty = false;
		o.editable = true;

		o = s.option(form.DummyValue, '_state', _('Effective mode'));
		o.modalonly = false;
		o.textvalue = function(section_id) {
			return self.cell('state', self.zoneName(section_id));
		};

		o = s.option(form.DummyValue, '_offloaded', _('Offloaded connections'));
		o.modalonly = false;
		o.textvalue = function(section_id) {
			return self.cell('offloaded', self.zoneName(section_id));
		};

		return m.render().then(function(mapEl) {
			self.statusNode = E('div', {}, self.renderStatusPanel());
			self.flowsNode = E('div', {}, self.renderFlows());

			self.root = E('div', {}, [
				E('h2', { 'name': 'content' }, [ _('Flow Offloading') ]),
				E('div', { 'class': 'cbi-map-descr' }, [
					_('Offload forwarded connections per firewall zone. A connection is offloaded only when both of its zones are not "Off"; it uses the hardware flow table only when both zones are set to "Hardware" and their devices support it. "Save & Apply" rolls back automatically if the router becomes unreachable.')
				]),
				E('div', { 'class': 'cbi-section' }, [
					E('h3', {}, [ _('Status') ]),
					self.statusNode
				]),
				mapEl,
				E('div', { 'class': 'cbi-section' }, [
					E('h3', {}, [ _('Top offloaded connections') ]),
					self.flowsNode
				])
			]);

			poll.add(L.bind(self.refresh, self), POLL_SECONDS);

			return self.root;
		}).catch(function(e) {
			return alertBox('error', [
				_('The page could not be built.'), E('br'),
				logic.describeError(e).text
			]);
		});
	}
});
